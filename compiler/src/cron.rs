//! Cron expressions: 5 fields or an `@preset`, parsed by croner.
//!
//! croner (4.x) is used because it reads standard 5-field cron (the `cron`
//! crate of the original plan wants 6-7 fields) and handles DST like Vixie
//! cron: a local time skipped at the spring change fires once, just after
//! it, and a repeated autumn hour fires once. This wrapper checks each
//! field first so that a mistake is reported as "minute 61 is outside
//! 0-59" with the field's position, which croner's messages do not give.

use std::ops::Range;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// A problem in a cron expression: where in the string, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronProblem {
    pub range: Range<usize>,
    pub message: String,
    pub help: Option<String>,
}

pub const PRESETS: &[(&str, &str)] = &[
    ("@hourly", "0 * * * *"),
    ("@daily", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
    ("@yearly", "0 0 1 1 *"),
];

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// Characters allowed besides digits, names, `*`, `,`, `-`, `/`.
    extra: &'static str,
}

const FIELDS: [FieldSpec; 5] = [
    FieldSpec {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
        extra: "",
    },
    FieldSpec {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
        extra: "",
    },
    FieldSpec {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
        extra: "LW?",
    },
    FieldSpec {
        name: "month",
        min: 1,
        max: 12,
        names: &[
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ],
        extra: "",
    },
    FieldSpec {
        name: "day-of-week",
        min: 0,
        max: 7,
        names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
        extra: "L#?",
    },
];

/// Parses a schedule; a problem names the field and points inside `text`.
pub fn parse(text: &str) -> Result<Cron, CronProblem> {
    let trimmed = text.trim();
    let lead = text.len() - text.trim_start().len();
    let whole = lead..lead + trimmed.len();
    let expr = if trimmed.starts_with('@') {
        match PRESETS.iter().find(|(p, _)| *p == trimmed) {
            Some((_, e)) => *e,
            None => {
                let names = PRESETS.iter().map(|(p, _)| *p);
                return Err(CronProblem {
                    range: whole,
                    message: format!("unknown schedule preset `{trimmed}`"),
                    help: crate::diagnostic::did_you_mean(trimmed, names.clone()).or_else(|| {
                        Some(format!("presets: {}", names.collect::<Vec<_>>().join(", ")))
                    }),
                });
            }
        }
    } else {
        check_fields(text)?;
        trimmed
    };
    let parser = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build();
    let cron = parser.parse(expr).map_err(|e| CronProblem {
        range: whole.clone(),
        message: format!("invalid cron expression: {e}"),
        help: None,
    })?;
    // A valid expression that never fires (`0 0 30 2 *`) is a mistake too.
    let probe = chrono::DateTime::from_timestamp(0, 0).unwrap_or_default();
    if cron.find_next_occurrence(&probe, false).is_err() {
        return Err(CronProblem {
            range: whole,
            message: format!("schedule `{trimmed}` never fires"),
            help: Some("check the day-of-month against the month (February has no 30th)".into()),
        });
    }
    Ok(cron)
}

/// The 5 fields, each checked against its range.
fn check_fields(text: &str) -> Result<(), CronProblem> {
    let fields: Vec<(usize, &str)> = split_fields(text);
    if fields.len() != 5 {
        let trimmed = text.trim();
        let lead = text.len() - text.trim_start().len();
        let help = match fields.len() {
            6 | 7 => {
                "chime's cron has no seconds or year field: use minute hour day-of-month month day-of-week"
            }
            _ => {
                "use minute hour day-of-month month day-of-week, e.g. `0 2 * * *`, or @hourly, @daily, @weekly, @monthly, @yearly"
            }
        };
        return Err(CronProblem {
            range: lead..lead + trimmed.len(),
            message: format!("a cron expression has 5 fields, found {}", fields.len()),
            help: Some(help.into()),
        });
    }
    for ((start, field), spec) in fields.into_iter().zip(FIELDS.iter()) {
        check_field(start, field, spec)?;
    }
    Ok(())
}

fn split_fields(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push((s, &text[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    out
}

fn check_field(offset: usize, field: &str, spec: &FieldSpec) -> Result<(), CronProblem> {
    let problem = |range: Range<usize>, message: String, help: Option<String>| CronProblem {
        range: offset + range.start..offset + range.end,
        message,
        help,
    };
    let range_help = || {
        let mut h = format!("{} takes {}-{}", spec.name, spec.min, spec.max);
        if let (Some(first), Some(last)) = (spec.names.first(), spec.names.last()) {
            h += &format!(" or {first}-{last}");
        }
        Some(h)
    };
    let mut pos = 0;
    for element in field.split(',') {
        let el_start = pos;
        pos += element.len() + 1;
        if element.is_empty() {
            return Err(problem(
                el_start..el_start + 1,
                format!("empty element in {} field", spec.name),
                None,
            ));
        }
        let (body, step) = match element.split_once('/') {
            Some((b, s)) => (b, Some(s)),
            None => (element, None),
        };
        if let Some(step) = step {
            let s_start = el_start + body.len() + 1;
            match step.parse::<u32>() {
                Ok(0) => {
                    return Err(problem(
                        s_start..s_start + step.len(),
                        format!("{} step 0 never advances", spec.name),
                        Some("use a step of 1 or more".into()),
                    ));
                }
                Ok(_) => {}
                Err(_) => {
                    return Err(problem(
                        s_start..s_start + step.len().max(1),
                        format!("{} step `{step}` is not a number", spec.name),
                        None,
                    ));
                }
            }
        }
        if body == "*" || body == "?" {
            continue;
        }
        // Values in the element (`a`, `a-b`), each a number or a name,
        // possibly with a suffix of the field's extra characters (`5L`, `15W`, `5#3`).
        let mut values = Vec::new();
        let mut at = el_start;
        for part in body.split('-') {
            values.push((at, part));
            at += part.len() + 1;
        }
        if values.len() > 2 {
            return Err(problem(
                el_start..el_start + body.len(),
                format!("`{body}` is not a valid {} range", spec.name),
                Some("write a range as a-b".into()),
            ));
        }
        let mut numbers = Vec::new();
        for (v_start, part) in &values {
            let core: &str = part
                .split('#')
                .next()
                .unwrap_or(part)
                .trim_end_matches(|c: char| spec.extra.contains(c));
            if core.is_empty() && part.chars().all(|c| spec.extra.contains(c)) && !part.is_empty() {
                continue; // `L`, `LW`
            }
            let value = if let Ok(n) = core.parse::<u32>() {
                n
            } else if let Some(i) = spec.names.iter().position(|n| n.eq_ignore_ascii_case(core)) {
                i as u32 + spec.min
            } else {
                return Err(problem(
                    *v_start..v_start + part.len().max(1),
                    format!("{} `{part}` is not a number", spec.name),
                    range_help(),
                ));
            };
            if value < spec.min || value > spec.max {
                return Err(problem(
                    *v_start..v_start + core.len(),
                    format!("{} {value} is outside {}-{}", spec.name, spec.min, spec.max),
                    range_help(),
                ));
            }
            if let Some((_, nth)) = part.split_once('#')
                && !matches!(nth.parse::<u32>(), Ok(1..=5))
            {
                return Err(problem(
                    *v_start..v_start + part.len(),
                    format!("`{part}`: the week number after # is 1-5"),
                    None,
                ));
            }
            numbers.push(value);
        }
        if let [a, b] = numbers[..]
            && a > b
        {
            return Err(problem(
                el_start..el_start + body.len(),
                format!("{} range `{body}` is backwards", spec.name),
                Some(format!("write it as {b}-{a}, or as two ranges")),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> CronProblem {
        parse(text).expect_err(text)
    }

    #[test]
    fn valid_expressions() {
        for ok in [
            "0 2 * * *",
            "*/15 * * * 1-5",
            "0 0 L * *",
            "0 9 * * MON-FRI",
            "0 0 * * 5#3",
            "0 0 15W * *",
            "@daily",
            "30 4 1,15 * *",
            "0 0 * JAN,JUL *",
        ] {
            assert!(parse(ok).is_ok(), "{ok}: {:?}", parse(ok).err());
        }
    }

    #[test]
    fn names_the_field_and_points_at_it() {
        let e = err("0 61 * * *");
        assert_eq!(e.message, "hour 61 is outside 0-23");
        assert_eq!(e.range, 2..4);
        let e = err("61 * * * *");
        assert_eq!(e.message, "minute 61 is outside 0-59");
        assert_eq!(err("0 0 * 13 *").message, "month 13 is outside 1-12");
        assert_eq!(err("0 0 * * 8").range, 8..9);
        assert!(err("0 0 * * * *").message.contains("5 fields, found 6"));
        assert!(err("@dayly").help.unwrap().contains("@daily"));
        assert!(err("0 0 30 2 *").message.contains("never fires"));
        assert!(err("*/0 * * * *").message.contains("step 0"));
        assert!(err("0 5-2 * * *").message.contains("backwards"));
    }
}
