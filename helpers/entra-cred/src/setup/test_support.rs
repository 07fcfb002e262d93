//! What the setup editors' tests share: the small deterministic fuzz that feeds each editor
//! random texts of its format's special characters.

/// `count` pseudo-random texts of up to 63 characters drawn from `alphabet`, from a linear
/// congruential generator started at `seed`. Each comes with the generator's state that made it
/// (for a test's own choices, e.g. wrapping some texts in a section header). The same seed gives
/// the same texts on every run, so a failure is reproducible.
pub fn random_texts(
    alphabet: &str,
    seed: u64,
    count: usize,
) -> impl Iterator<Item = (u64, String)> {
    let alphabet: Vec<char> = alphabet.chars().collect();
    let mut seed = seed;
    (0..count).map(move |_| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let len = (seed >> 58) as usize;
        let text = (0..len)
            .map(|k| alphabet[seed.rotate_left(k as u32 * 7) as usize % alphabet.len()])
            .collect();
        (seed, text)
    })
}
