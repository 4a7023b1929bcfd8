#!/usr/bin/env bash
# Page times of `thematic serve` over a finished run: `bash benches/serve.sh [N]`.
# Runs (or reuses) bench-data/serve-N (a `thematic run` of synth.py's corpus of
# N responses, default 100000), starts the server on a free port, requests
# each page 5 times with curl and prints the median time per page.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}"
bin=target/release/thematic
corpus="bench-data/synth-$n.jsonl"
out="bench-data/serve-$n"
cargo build --release --quiet
mkdir -p bench-data
[ -f "$corpus" ] || python3 ../shared/tools/synth.py --n "$n" --seed 1 --format jsonl --out "$corpus"
[ -f "$out/run.json" ] || "$bin" run "$corpus" --out "$out" --quiet >/dev/null
log=$(mktemp)
"$bin" serve --out "$out" --port 0 >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 50); do grep -q 'http://' "$log" && break; sleep 0.1; done
base=$(grep -o 'http://[0-9.:]*' "$log" | head -1)
id=$(head -1 "$corpus" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "thematic serve over $n responses ($out), median of 5 requests"
printf '%-70s %8s\n' page ms
for page in / /responses "/responses?theme=care" "/responses?q=kinship+care" \
  "/responses?q=kinship+care&theme=safety&a.respondent_type=foster_carer&page=3" \
  "/responses?q=%22care+leavers%22&page=20" "/responses?theme=%28none%29" "/response?id=$id"; do
  times=$(for _ in 1 2 3 4 5; do curl -s -o /dev/null -w '%{time_total}\n' "$base$page"; done | sort -n | sed -n 3p)
  printf '%-70s %8.1f\n' "$page" "$(python3 -c "print($times * 1000)")"
done
