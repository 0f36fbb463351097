//! The `format`s Trellis enforces, as regular expressions over the decoded
//! string value.
//!
//! Each one is a *sound subset* of what the format's RFC allows: every
//! string it matches is valid (checked against the `jsonschema` crate's
//! format validators in the tests), and the common shapes are all there.
//! Where a format has length limits that a regex could only express with a
//! very large automaton, the regex uses a smaller limit instead:
//!
//! * `date`: `YYYY-MM-DD` with real month lengths and leap years.
//! * `time`: `HH:MM:SS[.frac]` followed by `Z` or `±HH:MM` (RFC 3339
//!   requires the offset); no leap second, upper-case `Z` only.
//! * `date-time`: `date` `T` `time`.
//! * `uuid`: 8-4-4-4-12 hex digits, either case.
//! * `ipv4`: dotted quad without leading zeros.
//! * `ipv6`: the eight-group form and every `::`-compressed form, without an
//!   embedded IPv4 tail or a zone.
//! * `hostname`: up to 8 labels of 1 to 22 letters, digits and inner `-`.
//! * `email`: a local part of one or two dot-separated atoms of up to 30
//!   characters from `[A-Za-z0-9_+-]`, `@`, and a hostname as above with at
//!   least two labels (no quoted local parts, no address literals).
//! * `uri`: `scheme://host[:port][/path][?query][#fragment]` with a
//!   hostname-shaped host and RFC 3986 characters (percent escapes included).

const LABEL: &str = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,20}[A-Za-z0-9])?";
const OCTET: &str = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const HEX4: &str = "[0-9A-Fa-f]{1,4}";

fn date() -> String {
    let leap_year = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)";
    format!(
        "(?:[0-9]{{4}}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])\
         |[0-9]{{4}}-(?:0[13-9]|1[0-2])-(?:29|30)\
         |[0-9]{{4}}-(?:0[13578]|1[02])-31\
         |{leap_year}-02-29)"
    )
}

fn time() -> String {
    "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]+)?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])".to_owned()
}

fn ipv6() -> String {
    let h = HEX4;
    [
        format!("(?:{h}:){{7}}{h}"),
        format!("(?:{h}:){{1,7}}:"),
        format!("(?:{h}:){{1,6}}:{h}"),
        format!("(?:{h}:){{1,5}}(?::{h}){{1,2}}"),
        format!("(?:{h}:){{1,4}}(?::{h}){{1,3}}"),
        format!("(?:{h}:){{1,3}}(?::{h}){{1,4}}"),
        format!("(?:{h}:){{1,2}}(?::{h}){{1,5}}"),
        format!("{h}:(?::{h}){{1,6}}"),
        format!(":(?:(?::{h}){{1,7}}|:)"),
    ]
    .join("|")
}

/// The regex (in `regex-syntax` syntax, fully anchored by the caller) for a
/// format, or `None` when Trellis does not know it.
pub(super) fn format_regex(name: &str) -> Option<String> {
    let hostname = format!("{LABEL}(?:\\.{LABEL}){{0,7}}");
    let regex = match name {
        "date" => date(),
        "time" => time(),
        "date-time" => format!("{}T{}", date(), time()),
        "uuid" => "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}".to_owned(),
        "ipv4" => format!("{OCTET}(?:\\.{OCTET}){{3}}"),
        "ipv6" => ipv6(),
        "hostname" => hostname,
        "email" => format!("[A-Za-z0-9_+-]{{1,30}}(?:\\.[A-Za-z0-9_+-]{{1,30}})?@{LABEL}(?:\\.{LABEL}){{1,7}}"),
        "uri" => {
            let pchar = "(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})";
            format!(
                "[A-Za-z][A-Za-z0-9+.-]{{0,15}}://{hostname}(?::[0-9]{{1,5}})?(?:/{pchar}*)*(?:\\?(?:{pchar}|[/?])*)?(?:#(?:{pchar}|[/?])*)?"
            )
        }
        _ => return None,
    };
    Some(regex)
}

/// The formats [`format_regex`] knows, for error messages.
pub(super) const KNOWN_FORMATS: &str = "date, time, date-time, uuid, ipv4, ipv6, hostname, email, uri";
