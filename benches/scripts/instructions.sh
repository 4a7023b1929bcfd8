#!/usr/bin/env bash
# Steady-state instructions and mispredicted branches per byte of response
# text for the coding hot path, from cachegrind (deterministic, unlike
# timings on a shared machine). Needs valgrind.
#
#   bash benches/scripts/instructions.sh [PHASE ...]   (tokenise classify both big)
#
# Each phase runs under cachegrind with 3 and with 6 repetitions; the
# difference divided by 3 × the texts' bytes is the cost of one pass once
# caches (stem cache, matcher memo, lazy DFA states) are warm.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo bench --bench coding_instructions --no-run >/dev/null 2>&1
bin=$(ls -t target/release/deps/coding_instructions-* | grep -v '\.d$' | head -1)
phases=("${@:-tokenise classify both}")
for phase in ${phases[@]}; do
  declare -A ir mis
  for reps in 3 6; do
    out=$(valgrind --tool=cachegrind --cache-sim=no --branch-sim=yes \
      --cachegrind-out-file=/dev/null "$bin" "$phase" "$reps" 2>&1)
    bytes=$(grep -oE '^[a-z]+: [0-9]+ bytes' <<<"$out" | grep -oE '[0-9]+')
    ir[$reps]=$(grep -E 'I *refs:' <<<"$out" | sed 's/,//g; s/.*: *\([0-9]*\).*/\1/')
    mis[$reps]=$(grep -E 'Mispredicts:' <<<"$out" | sed 's/,//g; s/.*: *\([0-9]*\).*/\1/')
  done
  python3 -c "
b=$bytes*3
print('%-9s %7.1f instructions/byte %6.3f mispredicted branches/byte' % ('$phase', (${ir[6]}-${ir[3]})/b, (${mis[6]}-${mis[3]})/b))"
done
