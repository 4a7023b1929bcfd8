//! Campaign detection: grouping identical and near-identical responses (the
//! same letter with a changed greeting, sign-off or an added sentence).
//!
//! - Exact duplicates: the same sequence of lowercased words (punctuation,
//!   case and spacing ignored), for responses of at least
//!   [`MIN_WORDS_EXACT`] words.
//! - Near duplicates: MinHash over word 3-shingles by one-permutation hashing
//!   ([`BINS`] bins, one hash per shingle, empty bins filled by rotation), so a
//!   signature costs one hash per shingle; candidates by LSH ([`BANDS`] bands
//!   of [`ROWS`]), kept when the share of equal bins — the Jaccard estimate —
//!   reaches the threshold (default 0.8). A bin keeps 8 bits of its minimum:
//!   two unrelated bins agree by chance 1 time in 256, which biases the
//!   estimate by under 0.004 and halves the memory. Responses of at least
//!   [`MIN_WORDS_NEAR`] words take part.
//! - Groups are the connected components (union-find), numbered by size then
//!   first appearance, so ids are stable for the same input.

use crate::spool::ByteSpool;
use crate::text::TokenizedText;

pub const BINS: usize = 128;
pub const BANDS: usize = 16;
pub const ROWS: usize = BINS / BANDS;
// A band is read as one 64-bit word of eight 8-bit bins.
const _: () = assert!(ROWS == 8 && BINS.is_multiple_of(8));
pub const MIN_WORDS_EXACT: u32 = 5;
pub const MIN_WORDS_NEAR: u32 = 15;
pub const DEFAULT_THRESHOLD: f64 = 0.8;

/// A response's fingerprint: 140 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub exact: u64,
    pub words: u32,
    pub mins: [u8; BINS],
}

/// Eight bins as a word.
fn word(bins: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&bins[..8]);
    u64::from_le_bytes(bytes)
}

/// How many of `x`'s bytes are 0.
fn zero_bytes(x: u64) -> u32 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    // A byte's high bit ends up set exactly when the byte is 0: adding 0x7f
    // to its low seven bits sets bit 7 unless they are all 0, and the
    // byte's own high bit is or-ed in; nothing carries into the next byte.
    let nonzero = ((x & LOW7) + LOW7) | x;
    (!(nonzero | LOW7)).count_ones()
}

fn mix(mut x: u64) -> u64 {
    // splitmix64 finaliser: spreads FxHash output over all bits.
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d049bb133111eb);
    x ^ (x >> 31)
}

impl Signature {
    pub fn of(tokens: &TokenizedText) -> Signature {
        let n = tokens.len();
        let mut exact = 0x51_7c_c1_b7_27_22_0a_95u64;
        let mut full = [u64::MAX; BINS];
        let mut add = |h: u64| {
            let h = mix(h);
            let bin = (h >> 57) as usize;
            full[bin] = full[bin].min(h & 0x01ff_ffff_ffff_ffff);
        };
        // One pass: the exact hash chains every word, and each word closes
        // the 3-shingle of the two before it.
        let (mut first, mut second) = (0u64, 0u64);
        for i in 0..n {
            let word = tokens.lower_hash(i);
            exact = mix(exact ^ word);
            if i >= 2 {
                add(first ^ second.rotate_left(21) ^ word.rotate_left(42));
            }
            (first, second) = (second, word);
        }
        if (1..3).contains(&n) {
            add(exact);
        }
        // Densify: an empty bin borrows the next filled bin's value (round
        // the ring), salted by the distance, so two texts agree on it only if
        // they agree there. Walked backwards from the first filled bin's place
        // one turn on, so each bin knows the next filled one without
        // searching (a short text leaves most bins empty, and searching from
        // each made this half of the cost).
        let mut mins = [0u8; BINS];
        if let Some(first_filled) = full.iter().position(|v| *v != u64::MAX) {
            let mut next_filled = BINS + first_filled;
            for k in (0..BINS).rev() {
                if full[k] != u64::MAX {
                    next_filled = k;
                }
                let d = next_filled - k;
                mins[k] = (mix(full[next_filled % BINS] ^ d as u64) & 0xff) as u8;
            }
        }
        Signature {
            exact,
            words: n as u32,
            mins,
        }
    }

    /// Fold another answer of the same response into this signature.
    pub fn merge(&mut self, other: &Signature) {
        self.exact = mix(self.exact ^ other.exact.rotate_left(7));
        self.words += other.words;
        for (a, b) in self.mins.iter_mut().zip(other.mins) {
            *a = (*a).min(b);
        }
    }

    /// Estimated Jaccard similarity of the two word-shingle sets.
    pub fn similarity(&self, other: &Signature) -> f64 {
        // Eight bins at a time: a bin is equal where the XOR's byte is 0,
        // and `zero_bytes` counts those exactly (no borrow between bytes).
        let same: u32 = self
            .mins
            .chunks_exact(8)
            .zip(other.mins.chunks_exact(8))
            .map(|(a, b)| zero_bytes(word(a) ^ word(b)))
            .sum();
        f64::from(same) / BINS as f64
    }

    /// Band `b`'s bins as one hash: equal bands, equal hashes.
    fn band(&self, b: usize) -> u64 {
        mix(word(&self.mins[b * ROWS..(b + 1) * ROWS]) ^ (b as u64).rotate_left(32))
    }
}

/// Bytes of one signature on disk: `exact`, `words`, then the bins.
const SIGNATURE_BYTES: usize = 8 + 4 + BINS;

/// A run's signatures in response order. Campaigns are grouped only once
/// every response is read, so the signatures are the largest per-response
/// state of a run (140 bytes each); spooled, they wait on disk while the
/// index writer holds its memory, and come back for grouping after it has
/// gone. Without a directory they stay in memory.
pub struct SignatureSpool {
    /// Every signature but the last, [`SIGNATURE_BYTES`] each.
    spooled: ByteSpool,
    /// The latest signature, so an answer of the same response can still
    /// be merged into it.
    last: Option<Signature>,
    len: usize,
}

impl SignatureSpool {
    pub fn in_memory() -> Self {
        Self::on(ByteSpool::in_memory())
    }

    /// Spill to an unnamed file in `dir` (see [`ByteSpool::in_dir`]).
    pub fn in_dir(dir: &std::path::Path) -> Self {
        Self::on(ByteSpool::in_dir(dir))
    }

    fn on(spooled: ByteSpool) -> Self {
        SignatureSpool {
            spooled,
            last: None,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, sig: Signature) {
        if let Some(previous) = self.last.replace(sig) {
            let mut bytes = [0u8; SIGNATURE_BYTES];
            bytes[..8].copy_from_slice(&previous.exact.to_le_bytes());
            bytes[8..12].copy_from_slice(&previous.words.to_le_bytes());
            bytes[12..].copy_from_slice(&previous.mins);
            self.spooled.append(&bytes);
        }
        self.len += 1;
    }

    pub fn last_mut(&mut self) -> Option<&mut Signature> {
        self.last.as_mut()
    }

    /// Every signature, in order.
    pub fn into_vec(self) -> std::io::Result<Vec<Signature>> {
        use std::io::Read;
        let mut out = Vec::with_capacity(self.len);
        let mut reader = self.spooled.reader();
        let mut bytes = [0u8; SIGNATURE_BYTES];
        for _ in 1..self.len {
            reader.read_exact(&mut bytes)?;
            let (exact, rest) = bytes.split_at(8);
            let (words, mins) = rest.split_at(4);
            out.push(Signature {
                exact: u64::from_le_bytes(exact.try_into().unwrap_or_default()),
                words: u32::from_le_bytes(words.try_into().unwrap_or_default()),
                mins: mins.try_into().unwrap_or([0; BINS]),
            });
        }
        out.extend(self.last);
        Ok(out)
    }
}

struct UnionFind {
    parent: Vec<u32>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n as u32).collect(),
        }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // Keep the smaller index as root: groups are named by first member.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi as usize] = lo;
        }
    }
}

/// Group responses (indices into `sigs`) that are campaign copies. Returns
/// groups of two or more, each sorted, largest first, then by first member.
pub fn find_groups(sigs: &[Signature], threshold: f64) -> Vec<Vec<u32>> {
    let n = sigs.len();
    let mut uf = UnionFind::new(n);
    // Exact duplicates.
    let mut exact: Vec<(u64, u32)> = sigs
        .iter()
        .enumerate()
        .filter(|(_, s)| s.words >= MIN_WORDS_EXACT)
        .map(|(i, s)| (s.exact, i as u32))
        .collect();
    exact.sort_unstable();
    for run in exact.chunk_by(|a, b| a.0 == b.0) {
        for (_, i) in &run[1..] {
            uf.union(run[0].1, *i);
        }
    }
    drop(exact);
    // Near duplicates: responses sharing a band are candidates; each is
    // checked against the first member of its bucket and its neighbour.
    // Bands are independent, so they are bucketed and checked in parallel
    // (a bucket vector per band in flight, not per band); the similar pairs
    // are joined afterwards in band order. The components are the same as
    // joining band by band, since the pairs examined depend on the buckets
    // alone.
    use rayon::prelude::*;
    let near: Vec<u32> = (0..n as u32)
        .filter(|i| sigs[*i as usize].words >= MIN_WORDS_NEAR)
        .collect();
    let similar: Vec<Vec<(u32, u32)>> = (0..BANDS)
        .into_par_iter()
        .map(|b| similar_pairs_in_band(sigs, &near, b, threshold))
        .collect();
    drop(near);
    for (i, j) in similar.into_iter().flatten() {
        uf.union(i, j);
    }
    // Components by root, counted first so only groups of two or more get a
    // member list: most responses are alone, and a list each cost ~60 bytes
    // per response at the end of a run.
    let roots: Vec<u32> = (0..n as u32).map(|i| uf.find(i)).collect();
    drop(uf);
    let mut sizes = vec![0u32; n];
    for &r in &roots {
        sizes[r as usize] += 1;
    }
    let mut group_of_root: rustc_hash::FxHashMap<u32, usize> = Default::default();
    let mut out: Vec<Vec<u32>> = Vec::new();
    for (i, &r) in roots.iter().enumerate() {
        if sizes[r as usize] >= 2 {
            let g = *group_of_root.entry(r).or_insert_with(|| {
                out.push(Vec::with_capacity(sizes[r as usize] as usize));
                out.len() - 1
            });
            out[g].push(i as u32);
        }
    }
    // Members are pushed in order, so a group's first member is its smallest
    // (and its root): (size, first member) orders groups totally.
    out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a[0].cmp(&b[0])));
    out
}

/// The pairs of band `b`'s buckets that are at least `threshold` similar:
/// each member against its bucket's first member and its predecessor.
/// Members arrive in index order, so one pass with a map from bucket to
/// (first, latest) member finds the same pairs as sorting the band by
/// (bucket, index) did, in a third of the time at 1,000,000 responses.
fn similar_pairs_in_band(
    sigs: &[Signature],
    near: &[u32],
    b: usize,
    threshold: f64,
) -> Vec<(u32, u32)> {
    use std::collections::hash_map::Entry;
    let mut buckets: rustc_hash::FxHashMap<u64, (u32, u32)> =
        rustc_hash::FxHashMap::with_capacity_and_hasher(near.len(), Default::default());
    let mut pairs = Vec::new();
    for &i in near {
        match buckets.entry(sigs[i as usize].band(b)) {
            Entry::Vacant(slot) => {
                slot.insert((i, i));
            }
            Entry::Occupied(mut slot) => {
                let (first, previous) = *slot.get();
                for j in [first, previous] {
                    if sigs[i as usize].similarity(&sigs[j as usize]) >= threshold {
                        pairs.push((i, j));
                    }
                    if first == previous {
                        break;
                    }
                }
                slot.get_mut().1 = i;
            }
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Tokeniser;
    use proptest::prelude::*;

    proptest! {
        /// Counting equal bins eight at a time counts them exactly, whatever
        /// the bytes (0x00, 0x80 and 0xff next to each other included).
        #[test]
        fn similarity_counts_equal_bins_exactly(
            a in proptest::collection::vec(prop_oneof![Just(0u8), Just(0x80), Just(0xff), Just(1), any::<u8>()], BINS),
            masks in proptest::collection::vec(prop_oneof![Just(0u8), Just(0u8), Just(1), Just(0x80), Just(0xff), any::<u8>()], BINS),
        ) {
            let mut x = Signature { exact: 0, words: 20, mins: [0; BINS] };
            x.mins.copy_from_slice(&a);
            let mut y = x.clone();
            for (bin, mask) in y.mins.iter_mut().zip(&masks) {
                *bin ^= mask;
            }
            let same = masks.iter().filter(|m| **m == 0).count();
            prop_assert_eq!(x.similarity(&y), same as f64 / BINS as f64);
        }
    }

    fn sig(t: &str) -> Signature {
        Signature::of(&Tokeniser::shared().tokenise(t))
    }

    /// The signature as first written: the words collected, then each empty
    /// bin searching forward for the next filled one.
    fn reference_signature(t: &str) -> Signature {
        let tokens = Tokeniser::shared().tokenise(t);
        let words: Vec<u64> = (0..tokens.len()).map(|i| tokens.lower_hash(i)).collect();
        let mut exact = 0x51_7c_c1_b7_27_22_0a_95u64;
        for w in &words {
            exact = mix(exact ^ w);
        }
        let mut full = [u64::MAX; BINS];
        let mut add = |h: u64| {
            let h = mix(h);
            let bin = (h >> 57) as usize;
            full[bin] = full[bin].min(h & 0x01ff_ffff_ffff_ffff);
        };
        if words.len() < 3 {
            if !words.is_empty() {
                add(exact);
            }
        } else {
            for w in words.windows(3) {
                add(w[0] ^ w[1].rotate_left(21) ^ w[2].rotate_left(42));
            }
        }
        let mut mins = [0u8; BINS];
        if full.iter().any(|v| *v != u64::MAX) {
            for (b, slot) in mins.iter_mut().enumerate() {
                let mut d = 0;
                while full[(b + d) % BINS] == u64::MAX {
                    d += 1;
                }
                *slot = (mix(full[(b + d) % BINS] ^ d as u64) & 0xff) as u8;
            }
        }
        Signature {
            exact,
            words: words.len() as u32,
            mins,
        }
    }

    #[test]
    fn one_pass_signature_equals_the_reference() {
        let words = "kinship carers need the same support as foster carers do and \
                     nobody told us what would happen next in the plan";
        let words: Vec<&str> = words.split(' ').collect();
        // Every length from empty (no bins) through short texts (most bins
        // borrowed) to long ones (few borrowed).
        for n in 0..=words.len() {
            let text = words[..n].join(" ");
            assert_eq!(sig(&text), reference_signature(&text), "{n} words");
        }
        let long = words.join(" ").repeat(9);
        assert_eq!(sig(&long), reference_signature(&long));
    }

    const LETTER: &str = "We call on the review to create a legal duty on every council to fund kinship \
        carers properly, with a national allowance and clear accountability when councils fail \
        the children who live with grandparents, aunts and older siblings. Kinship carers step in \
        when parents cannot cope, often overnight, and many give up work to do it. Too many are \
        told they are not entitled to support because the council never took the child into care. \
        A national minimum allowance, legal advice before any agreement is signed, and a named \
        worker for every kinship family would change that. Government must set the standard and \
        inspect councils against it.";

    #[test]
    fn groups_copies_with_new_greetings_and_keeps_others_apart() {
        let sigs = vec![
            sig(&format!("Dear Review team, {LETTER} Yours, a grandmother")),
            sig(
                "Social workers need smaller caseloads so they can know the children they work with.",
            ),
            sig(&format!("To whom it may concern: {LETTER} Regards, Sam")),
            sig(LETTER),
            sig(&format!(
                "{LETTER} I have cared for my grandson for six years."
            )),
            sig(
                "Ofsted inspections should ask children what they think of their homes and carers.",
            ),
        ];
        let groups = find_groups(&sigs, DEFAULT_THRESHOLD);
        assert_eq!(groups, vec![vec![0, 2, 3, 4]]);
    }

    /// The band-by-band join over sorted buckets, which the parallel
    /// one-pass bands replaced.
    fn find_groups_band_by_band(sigs: &[Signature], threshold: f64) -> Vec<Vec<u32>> {
        let n = sigs.len();
        let mut uf = UnionFind::new(n);
        let mut exact: Vec<(u64, u32)> = (0..n as u32)
            .filter(|i| sigs[*i as usize].words >= MIN_WORDS_EXACT)
            .map(|i| (sigs[i as usize].exact, i))
            .collect();
        exact.sort_unstable();
        for run in exact.chunk_by(|a, b| a.0 == b.0) {
            for (_, i) in &run[1..] {
                uf.union(run[0].1, *i);
            }
        }
        for b in 0..BANDS {
            let mut bucket: Vec<(u64, u32)> = (0..n as u32)
                .filter(|i| sigs[*i as usize].words >= MIN_WORDS_NEAR)
                .map(|i| (sigs[i as usize].band(b), i))
                .collect();
            bucket.sort_unstable();
            for run in bucket.chunk_by(|a, b| a.0 == b.0) {
                for w in 1..run.len() {
                    let i = run[w].1;
                    for j in [run[0].1, run[w - 1].1] {
                        if uf.find(i) != uf.find(j)
                            && sigs[i as usize].similarity(&sigs[j as usize]) >= threshold
                        {
                            uf.union(i, j);
                        }
                    }
                }
            }
        }
        let mut groups: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
        for i in 0..n as u32 {
            groups.entry(uf.find(i)).or_default().push(i);
        }
        let mut out: Vec<Vec<u32>> = groups.into_values().filter(|g| g.len() >= 2).collect();
        out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a[0].cmp(&b[0])));
        out
    }

    #[test]
    fn parallel_bands_group_as_band_by_band() {
        // Families of letters with a few words changed, dropped or added,
        // among unrelated answers: near and not-so-near copies at every
        // threshold below.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |m: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % m as u64) as usize
        };
        let mut texts = Vec::new();
        for family in 0..12 {
            let base: Vec<String> = (0..40 + next(60))
                .map(|_| format!("f{family}x{}", next(400)))
                .collect();
            for _ in 0..40 {
                let mut t = base.clone();
                for _ in 0..next(12) {
                    let at = next(t.len());
                    match next(3) {
                        0 => t[at] = format!("edit{}", next(50)),
                        1 => {
                            t.remove(at);
                        }
                        _ => t.insert(at, format!("extra{}", next(50))),
                    }
                }
                texts.push(t.join(" "));
            }
        }
        for k in 0..200 {
            let len = 10 + next(30);
            let t: Vec<String> = (0..len).map(|_| format!("w{}", next(300) + k)).collect();
            texts.push(t.join(" "));
        }
        let sigs: Vec<Signature> = texts.iter().map(|t| sig(t)).collect();
        for threshold in [0.5, 0.7, 0.8, 0.9] {
            let groups = find_groups(&sigs, threshold);
            assert!(groups.len() >= 2, "the families form groups at {threshold}");
            assert_eq!(
                groups,
                find_groups_band_by_band(&sigs, threshold),
                "{threshold}"
            );
        }
    }

    #[test]
    fn spooled_signatures_come_back_whole_and_in_order() {
        // Enough to spill past the spool's one-MiB memory buffer.
        let texts: Vec<String> = (0..20_000)
            .map(|i| format!("answer {i} about kinship care number {} and more", i % 7))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("not-there");
        let mut memory = SignatureSpool::in_memory();
        let mut spooled = SignatureSpool::in_dir(dir.path());
        // A directory that cannot take the file keeps everything in memory.
        let mut refused = SignatureSpool::in_dir(&missing);
        for (i, t) in texts.iter().enumerate() {
            let s = sig(t);
            for spool in [&mut memory, &mut spooled, &mut refused] {
                // Every third answer belongs to the response before it.
                if i % 3 == 2 {
                    spool.last_mut().unwrap().merge(&s);
                } else {
                    spool.push(s.clone());
                }
            }
        }
        assert!(spooled.spooled.spilled() >= 1 << 20);
        assert_eq!(refused.spooled.spilled(), 0);
        let expected = memory.into_vec().unwrap();
        assert_eq!(expected.len(), texts.len() - texts.len() / 3);
        assert_eq!(spooled.into_vec().unwrap(), expected);
        assert_eq!(refused.into_vec().unwrap(), expected);
    }

    #[test]
    fn exact_copies_ignore_case_and_punctuation() {
        let a = sig("Fund kinship carers properly, now and always.");
        let b = sig("fund KINSHIP carers properly now and always");
        assert_eq!(a.exact, b.exact);
        assert_eq!(find_groups(&[a, b], 0.8), vec![vec![0, 1]]);
        let short = [sig("N/A"), sig("n/a")];
        assert!(
            find_groups(&short, 0.8).is_empty(),
            "short answers are not campaigns"
        );
    }
}
