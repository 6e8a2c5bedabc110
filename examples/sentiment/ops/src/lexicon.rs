//! A tiny sentiment lexicon: enough to score short product reviews.

const POSITIVE: &[&str] = &[
    "good", "great", "excellent", "love", "loved", "amazing", "perfect", "happy", "fast", "recommend", "nice",
    "best", "fantastic", "works", "easy", "comfortable", "beautiful",
];
const NEGATIVE: &[&str] = &[
    "bad", "terrible", "awful", "hate", "broken", "slow", "poor", "worst", "disappointed", "refund", "late",
    "cheap", "useless", "returned", "noisy", "difficult", "damaged",
];
const NEGATIONS: &[&str] = &["not", "never", "no", "hardly", "don't", "didn't", "isn't", "wasn't"];

/// The mean polarity of the review's sentiment words, in [-1, 1]; a
/// negation flips the polarity of the word after it.
pub fn score(text: &str) -> f64 {
    let mut total = 0.0;
    let mut hits = 0u32;
    let mut negate = false;
    for raw in text.split_whitespace() {
        let word: String = raw.chars().filter(|c| c.is_alphanumeric() || *c == '\'').collect::<String>().to_lowercase();
        if NEGATIONS.contains(&word.as_str()) {
            negate = true;
            continue;
        }
        let polarity = if POSITIVE.contains(&word.as_str()) {
            1.0
        } else if NEGATIVE.contains(&word.as_str()) {
            -1.0
        } else {
            negate = false;
            continue;
        };
        total += if negate { -polarity } else { polarity };
        hits += 1;
        negate = false;
    }
    if hits == 0 { 0.0 } else { total / f64::from(hits) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn negation_flips() {
        assert!(super::score("Great phone, love it") > 0.9);
        assert!(super::score("not good at all") < 0.0);
        assert_eq!(super::score("it is a phone"), 0.0);
    }
}
