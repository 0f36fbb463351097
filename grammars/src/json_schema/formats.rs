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
//! * `email`: a local part of dot-separated atoms of RFC 5322's ASCII
//!   `atext` (`A-Z a-z 0-9 ! # $ % & ' * + / = ? ^ _ ` { | } ~ -`), `@`, and
//!   a hostname as above with at least two labels (no quoted local parts,
//!   no address literals). The local part may have at most 64 characters
//!   (RFC 5321): one or two atoms of up to 31 characters, or three or four
//!   of up to 15 (`m4.van.dijk`).
//! * `uri`: RFC 3986's `scheme ":" hier-part ["?" query] ["#" fragment]`,
//!   every form of `hier-part`: `//authority` with a path (`https://a.b/c`,
//!   `file:///etc`, an empty or registered-name host, userinfo and port) or
//!   a path without authority (`urn:isbn:123`, `ecdsa-koblitz-pubkey:02ab`,
//!   `mailto:a@b.c`, `news:/x`); no IP-literal hosts (`[::1]`). Every
//!   character class is RFC 3986's, percent escapes included.
//! * `uri-reference`: a `uri` as above, or RFC 3986's `relative-ref`
//!   (`/a/b?c`, `../x`, `//host/p`, `#frag`, the empty string).
//!
//! A format JSON Schema does not define (`byte`, `color`, `path`) is no
//! constraint at all, since validators ignore it: such a string is accepted
//! whatever it holds, with a warning ([`is_defined`]).

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

const PCT: &str = "%[0-9A-Fa-f]{2}";

/// RFC 3986 `pchar`.
fn pchar() -> String {
    format!("(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|{PCT})")
}

/// `"//" authority path-abempty`, without IP literals.
fn authority_and_path() -> String {
    let pchar = pchar();
    let userinfo = format!("(?:[A-Za-z0-9._~!$&'()*+,;=:-]|{PCT})*@");
    let reg_name = format!("(?:[A-Za-z0-9._~!$&'()*+,;=-]|{PCT})*");
    format!("//(?:{userinfo})?{reg_name}(?::[0-9]*)?(?:/{pchar}*)*")
}

/// `[ "?" query ] [ "#" fragment ]`.
fn query_and_fragment() -> String {
    let pchar = pchar();
    format!("(?:\\?(?:{pchar}|[/?])*)?(?:#(?:{pchar}|[/?])*)?")
}

/// RFC 3986 `URI`: `scheme ":" hier-part`, with every `hier-part` form.
fn uri() -> String {
    let pchar = pchar();
    let segments = format!("(?:/{pchar}*)*");
    let hier_part = format!("{}|/(?:{pchar}+{segments})?|{pchar}+{segments}|", authority_and_path());
    format!("[A-Za-z][A-Za-z0-9+.-]*:(?:{hier_part}){}", query_and_fragment())
}

/// RFC 3986 `relative-ref`: a path whose first segment has no `:`, an
/// absolute path, `//authority`, or nothing, then a query and fragment.
fn relative_reference() -> String {
    let pchar = pchar();
    let no_colon = format!("(?:[A-Za-z0-9._~!$&'()*+,;=@-]|{PCT})");
    let segments = format!("(?:/{pchar}*)*");
    let relative_part = format!("{}|/(?:{pchar}+{segments})?|{no_colon}+{segments}|", authority_and_path());
    format!("(?:{relative_part}){}", query_and_fragment())
}

/// Whether JSON Schema (draft 4 to 2020-12) defines `name`: a defined
/// format Trellis cannot enforce is refused, while any other name is no
/// format validators know (`byte`, `color`, `int32`), which validation
/// ignores, so it is accepted as a plain string with a warning.
pub(super) fn is_defined(name: &str) -> bool {
    matches!(
        name,
        "date"
            | "date-time"
            | "time"
            | "duration"
            | "email"
            | "idn-email"
            | "hostname"
            | "idn-hostname"
            | "ipv4"
            | "ipv6"
            | "uri"
            | "uri-reference"
            | "iri"
            | "iri-reference"
            | "uri-template"
            | "uuid"
            | "json-pointer"
            | "relative-json-pointer"
            | "regex"
    )
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
        "email" => {
            let atext = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]";
            format!(
                "(?:{atext}{{1,31}}(?:\\.{atext}{{1,31}})?|{atext}{{1,15}}(?:\\.{atext}{{1,15}}){{2,3}})@{LABEL}(?:\\.{LABEL}){{1,7}}"
            )
        }
        "uri" => uri(),
        "uri-reference" => format!("{}|{}", uri(), relative_reference()),
        _ => return None,
    };
    Some(regex)
}

/// The formats [`format_regex`] knows, for error messages.
pub(super) const KNOWN_FORMATS: &str = "date, time, date-time, uuid, ipv4, ipv6, hostname, email, uri, uri-reference";
