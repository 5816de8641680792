//! The echo class, format by format (the list `src/echo.rs` opens with and
//! `docs/guarantees.md` gives): each format with the credential inside a
//! longer text and at its end, for tokens of the shapes providers hand out,
//! as an answer's body and in a redirect's `Location` to another origin.
//! An answer that does not hold the credential comes back whole.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeReply, FakeUpstream};
use nexus_sdk::{FetchOptions, NexusClient, NexusClientOptions, TokenCache};

/// Tokens of the shapes providers hand out: marks of their own (`_`, `.`,
/// `-`, `/`, `+`) that a format may write another way.
const TOKENS: [&str; 3] = [
    "ghp_R2d9Kq7LmX4vT8sB1nZ6wY3cH5jF0aE",
    "ya29.a0AfB_byC7kQ-9zX1/mN+2pR8sT",
    "xoxb-2048-88341-Vq9TzLr7Wm4KpX2sNd6",
];

pub(crate) const WITHHELD: &[u8] = b"<withheld: the text echoed a credential>";

/// A provider answering with its token, an API that answers what a test
/// sets, and another origin a redirect may point at.
pub(crate) struct Echo {
    _gateway: FakeGateway,
    api: FakeUpstream,
    elsewhere: FakeUpstream,
    client: NexusClient,
    cache: TokenCache,
}

impl Echo {
    pub(crate) fn new(token: &str) -> Echo {
        let (gateway, api, elsewhere) = (
            FakeGateway::start(),
            FakeUpstream::start(),
            FakeUpstream::start(),
        );
        let provider = FakeProvider::oauth2(token).api_base_url(&api.url());
        gateway.add_provider("ws", "p", provider);
        let client = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
        let cache = TokenCache::new();
        Echo {
            _gateway: gateway,
            api,
            elsewhere,
            client,
            cache,
        }
    }

    fn fetch(&self, withhold: bool) -> (u16, Vec<u8>) {
        let options = FetchOptions::default().withhold_credential_echo(withhold);
        let url = format!("{}/echo", self.api.url());
        let (status, _, body) = self
            .client
            .authenticated_fetch(&self.cache, "ws", "p", &url, options)
            .unwrap();
        (status, body)
    }

    /// What an answer of `body` comes back as, with echoes withheld.
    pub(crate) fn answered(&self, body: &[u8]) -> Vec<u8> {
        self.api
            .set_reply("/echo", FakeReply::new(200).body(body.to_vec()));
        self.fetch(true).1
    }

    /// Whether a redirect to the other origin, `form` in its query, is
    /// followed with default options.
    pub(crate) fn followed(&self, form: &[u8]) -> bool {
        let location = format!("{}/cb?state={}", self.elsewhere.url(), url_escaped(form));
        self.api
            .set_reply("/echo", FakeReply::new(302).header("Location", &location));
        let (status, _) = self.fetch(false);
        status != 302 || self.elsewhere.connections() > 0
    }
}

/// Checks every encoding `encode` makes of a text holding each token,
/// inside the text and at its end: withheld as an answer, not followed in
/// a redirect.
fn caught(format: &str, encode: impl Fn(&str) -> Vec<Vec<u8>>) {
    for token in TOKENS {
        let echo = Echo::new(token);
        for text in [
            format!("Authorization: Bearer {token} (sent)"),
            format!("Bearer {token}"),
        ] {
            for form in encode(&text) {
                let shown = String::from_utf8_lossy(&form);
                assert_eq!(echo.answered(&form), WITHHELD, "{format}: {shown}");
                assert!(!echo.followed(&form), "{format} in a Location: {shown}");
            }
        }
    }
}

fn each_byte(text: &str, write: impl Fn(u8) -> String) -> Vec<u8> {
    text.bytes().map(write).collect::<String>().into_bytes()
}

/// `text` with each byte that is not a letter or a digit written by `write`.
fn marks(text: &str, write: impl Fn(u8) -> String) -> Vec<u8> {
    let keep = |b: u8| match b.is_ascii_alphanumeric() {
        true => char::from(b).to_string(),
        false => write(b),
    };
    each_byte(text, keep)
}

fn percent(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// `bytes` as a URL's query carries them: what is not unreserved escaped.
fn url_escaped(bytes: &[u8]) -> String {
    let unreserved = |b: &u8| b.is_ascii_alphanumeric() || b"-._~".contains(b);
    let escape = |b: &u8| match unreserved(b) {
        true => char::from(*b).to_string(),
        false => format!("%{b:02X}"),
    };
    bytes.iter().map(escape).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn wrap(text: &str, width: usize, sep: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let lines: Vec<String> = chars.chunks(width).map(|c| c.iter().collect()).collect();
    lines.join(sep)
}

#[test]
fn percent_and_form_encoding_with_the_legacy_u_escape() {
    caught("percent", |text| {
        vec![
            percent(text.as_bytes()).into_bytes(),
            percent(text.as_bytes()).to_lowercase().into_bytes(),
            marks(&text.replace(' ', "+"), |b| format!("%{b:02x}")),
            each_byte(text, |b| format!("%u{:04X}", b)),
        ]
    });
}

#[test]
fn json_javascript_python_and_c_string_escapes() {
    caught("backslash", |text| {
        vec![
            each_byte(text, |b| format!("\\u{b:04x}")),
            marks(text, |b| format!("\\u{b:04X}")),
            each_byte(text, |b| format!("\\u{{{b:x}}}")),
            each_byte(text, |b| format!("\\U{b:08x}")),
            each_byte(text, |b| format!("\\{b:o}")),
            marks(text, |b| format!("\\{b:03o}")),
            each_byte(text, |b| format!("\\x{b:02X}")),
            marks(text, |b| format!("\\{}", char::from(b))),
        ]
    });
}

#[test]
fn css_escapes() {
    caught("css", |text| {
        vec![
            each_byte(text, |b| format!("\\{b:x} ")),
            marks(text, |b| format!("\\{b:06x}")),
            marks(text, |b| format!("\\{b:X}\t")),
        ]
    });
}

#[test]
fn html_character_references_numeric_and_named() {
    let named = |b: u8| match b {
        b'_' => "&UnderBar;".to_owned(),
        b'.' => "&period;".to_owned(),
        b'/' => "&sol;".to_owned(),
        b'+' => "&plus;".to_owned(),
        b':' => "&colon;".to_owned(),
        b' ' => "&Tab;".to_owned(),
        other => format!("&#{other};"),
    };
    caught("html", |text| {
        vec![
            each_byte(text, |b| format!("&#{b};")),
            each_byte(text, |b| format!("&#X{b:x};")),
            marks(text, named),
            marks(text, |b| match b {
                b'_' => "&lowbar;".to_owned(),
                other => format!("&#x{other:02X};"),
            }),
        ]
    });
}

#[test]
fn quoted_printable_and_mime_encoded_words() {
    caught("quoted-printable", |text| {
        let every = each_byte(text, |b| format!("={b:02X}"));
        let qp_marks = String::from_utf8(marks(text, |b| format!("={b:02X}"))).unwrap();
        let q_word = marks(&text.replace(' ', "_"), |b| match b {
            b'_' if !text.contains('_') => "_".to_owned(),
            other => format!("={other:02X}"),
        });
        vec![
            wrap(&String::from_utf8(every).unwrap(), 15, "=\r\n").into_bytes(),
            wrap(&qp_marks, 7, "=\n").into_bytes(),
            [b"Subject: =?UTF-8?Q?", &q_word[..], b"?="].concat(),
            format!("=?utf-8?B?{}?=", STANDARD.encode(text)).into_bytes(),
        ]
    });
}

#[test]
fn hex_with_any_prefix_and_separator_and_decimal_byte_lists() {
    caught("numbers", |text| {
        let bytes = text.as_bytes();
        let mixed: String = hex(bytes)
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 3 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        let list = |sep: &str| {
            let numbers: Vec<String> = bytes.iter().map(u8::to_string).collect();
            numbers.join(sep)
        };
        vec![
            each_byte(text, |b| format!("0X{b:02X}, ")),
            wrap(&hex(bytes), 2, "-").into_bytes(),
            wrap(&hex(bytes).to_uppercase(), 2, ":").into_bytes(),
            mixed.into_bytes(),
            each_byte(text, |b| format!("%{b:02x} ")),
            format!("{{\"type\":\"Buffer\",\"data\":[{}]}}", list(",")).into_bytes(),
            format!("bytes: {}", list(" ")).into_bytes(),
        ]
    });
}

/// `bytes` as hex dumps write them: `xxd` (16 bytes a line, and `-c 8 -g
/// 1`), `hexdump -C` and `od -A x -t x1z`, each an offset, the bytes in hex
/// and their text.
pub(crate) fn dumps(bytes: &[u8]) -> Vec<Vec<u8>> {
    let shown = |line: &[u8]| -> String {
        let printable = |b: &u8| (0x20..0x7f).contains(b).then(|| char::from(*b));
        line.iter().map(|b| printable(b).unwrap_or('.')).collect()
    };
    let lines = |width: usize, line: &dyn Fn(usize, &[u8]) -> String| -> Vec<u8> {
        let lines = bytes.chunks(width).enumerate();
        lines
            .map(|(i, l)| line(i * width, l) + "\n")
            .collect::<String>()
            .into_bytes()
    };
    let spaced = |l: &[u8], group: usize| -> Vec<String> { l.chunks(group).map(hex).collect() };
    vec![
        lines(16, &|at, l| {
            format!("{at:08x}: {:<39}  {}", spaced(l, 2).join(" "), shown(l))
        }),
        lines(8, &|at, l| {
            format!("{at:08x}: {:<23}  {}", spaced(l, 1).join(" "), shown(l))
        }),
        lines(16, &|at, l| {
            let (left, right) = l.split_at(l.len().min(8));
            let halves = format!(
                "{:<23}  {}",
                spaced(left, 1).join(" "),
                spaced(right, 1).join(" ")
            );
            format!("{at:08x}  {halves:<48}  |{}|", shown(l))
        }),
        lines(16, &|at, l| {
            format!("{at:06x} {:<47}  >{}<", spaced(l, 1).join(" "), shown(l))
        }),
    ]
}

#[test]
fn hex_dumps_with_their_offsets_and_text() {
    // The credential across lines, at each place in a line it may start.
    caught("hex dumps", |text| {
        let at = |n: usize| dumps(format!("{}{text}\n", "#".repeat(n)).as_bytes());
        [0, 3, 8, 13].into_iter().flat_map(at).collect()
    });
}

#[test]
fn base64_as_a_lenient_decoder_reads_it() {
    caught("base64", |text| {
        let escaped = String::from_utf8(each_byte(text, |b| format!("\\u{b:04x}"))).unwrap();
        vec![
            // Wrapped at widths that are no multiple of four, nested.
            wrap(&STANDARD.encode(&escaped), 75, "\r\n").into_bytes(),
            wrap(&STANDARD.encode(&escaped), 61, "\n").into_bytes(),
            // Nested at the very end: the run's last partial group.
            URL_SAFE_NO_PAD
                .encode(format!("x={}", hex(text.as_bytes())))
                .into_bytes(),
            URL_SAFE_NO_PAD
                .encode(percent(text.as_bytes()))
                .into_bytes(),
            // Anything outside the alphabet between its characters.
            wrap(&STANDARD.encode(text), 5, "\u{200B}").into_bytes(),
            wrap(&STANDARD.encode(text), 3, "|").into_bytes(),
        ]
    });
}

#[test]
fn utf16_in_either_byte_order() {
    caught("utf-16", |text| {
        let le =
            |text: &str| -> Vec<u8> { text.encode_utf16().flat_map(u16::to_le_bytes).collect() };
        let be =
            |text: &str| -> Vec<u8> { text.encode_utf16().flat_map(u16::to_be_bytes).collect() };
        let escaped = String::from_utf8(marks(text, |b| format!("\\u{b:04x}"))).unwrap();
        vec![
            [&[0xFF, 0xFE][..], &le(text)].concat(),
            be(text),
            le(&escaped),
            STANDARD.encode(le(text)).into_bytes(),
        ]
    });
}

#[test]
fn formats_nested_three_times_in_any_mix() {
    caught("nested", |text| {
        let json = String::from_utf8(marks(text, |b| format!("\\u{b:04x}"))).unwrap();
        let qp = String::from_utf8(marks(text, |b| format!("={b:02X}"))).unwrap();
        let css = String::from_utf8(marks(text, |b| format!("\\{b:x} "))).unwrap();
        // The outer layer a URL carries as it is: in a Location, too, the
        // credential is three decodings deep.
        let html = each_byte(&css, |b| format!("&#{b};"));
        vec![
            URL_SAFE_NO_PAD.encode(hex(json.as_bytes())).into_bytes(),
            hex(URL_SAFE_NO_PAD.encode(&qp).as_bytes()).into_bytes(),
            URL_SAFE_NO_PAD.encode(html).into_bytes(),
            hex(percent(json.as_bytes()).as_bytes()).into_bytes(),
        ]
    });
}

#[test]
fn answers_that_do_not_hold_the_credential_come_back_whole() {
    let token = TOKENS[0];
    let echo = Echo::new(token);
    let mut off = token.as_bytes().to_vec();
    off[20] = if off[20] == b'q' { b'r' } else { b'q' };
    let off = String::from_utf8(off).unwrap();
    let commits: String = (0..200)
        .map(|i| {
            format!(
                "{{\"sha\":\"{:040x}\",\"message\":\"fix \\\"parser\\\" #{i}\\n\\nsee \\u00e9\",\
                 \"url\":\"https:\\/\\/api.example\\/c\\/{i}\"}},",
                (i as u128) * 0x9E37_79B9_7F4A_7C15
            )
        })
        .collect();
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let binary: Vec<u8> = (0..64 << 10)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    let file = wrap(&STANDARD.encode(&binary[..3000]), 76, "\n");
    let bodies: Vec<Vec<u8>> = vec![
        format!("[{commits}]").into_bytes(),
        format!("{{\"content\":\"{file}\"}}").into_bytes(),
        binary,
        format!("token {off}").into_bytes(),
        STANDARD.encode(format!("Bearer {off}")).into_bytes(),
        hex(off.as_bytes()).into_bytes(),
        dumps(format!("## {off}").as_bytes()).concat(),
        each_byte(&off, |b| format!("\\u{b:04x}")),
        each_byte(&off, |b| format!("={b:02X}")),
        format!(
            "[{}]",
            off.bytes()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(",")
        )
        .into_bytes(),
    ];
    for body in bodies {
        let shown = String::from_utf8_lossy(&body[..body.len().min(120)]).into_owned();
        assert_eq!(echo.answered(&body), body, "{shown}");
    }
}
