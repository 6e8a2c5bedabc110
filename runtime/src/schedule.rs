//! Cron parsing for the runtime (the compiler validated the expression).

use croner::parser::{CronParser, Seconds, Year};

pub fn parse(expr: &str) -> Result<croner::Cron, croner::errors::CronError> {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(expr)
}
