//! Server-rendered HTML: escaping and the page frame. Pages work without JavaScript.
use std::fmt::Write;

/// Escapes text for HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
*{box-sizing:border-box}
input,button{font:inherit}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f5f9;color:#1b2330}
main{max-width:480px;margin:40px auto;padding:0 16px}
.card{background:#fff;border-radius:14px;box-shadow:0 6px 24px rgba(20,30,60,.08);padding:28px}
.merchant{font-size:14px;color:#5a6478;margin:0 0 4px}
h1{font-size:22px;margin:0 0 18px}
table{width:100%;border-collapse:collapse;margin:0 0 16px}
caption{text-align:left;font-weight:600;padding-bottom:6px}
th,td{padding:6px 0;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;white-space:nowrap}
tbody tr{border-top:1px solid #e6e9f0}
.sub{color:#5a6478;font-size:14px}
tfoot td{padding-top:10px}
.total td{font-weight:700;font-size:18px;border-top:2px solid #1b2330}
.options{display:flex;gap:6px;flex-wrap:wrap;margin:0 0 18px;padding:0;list-style:none}
.options li{font-size:12px;border:1px solid #c9d0de;border-radius:999px;padding:2px 10px;color:#3b4556}
fieldset{border:0;padding:0;margin:0}
legend{font-weight:600;margin-bottom:8px}
label{display:block;font-weight:600;font-size:14px;margin:12px 0 4px}
input[type=text]{width:100%;padding:11px 12px;border:1px solid #b9c1d1;border-radius:8px;font-size:16px}
input[type=text]:focus,button:focus,a:focus,input[type=radio]:focus,input[type=checkbox]:focus{outline:3px solid #2f6fed;outline-offset:2px}
input[aria-invalid=true]{border-color:#c62828}
.row{display:flex;gap:12px}.row>div{flex:1}
.error{color:#b71c1c;font-size:14px;margin:4px 0 0}
.alert{background:#fdecea;border:1px solid #f5c2c0;color:#8e1b1b;border-radius:8px;padding:12px 14px;margin:0 0 16px}
.alert ul{margin:6px 0 0;padding-left:18px}.alert a{color:#8e1b1b}
.ok{background:#e8f5e9;border:1px solid #b7dfb9;color:#1b5e20;border-radius:8px;padding:12px 14px}
.check{display:flex;align-items:center;gap:8px;font-weight:400;margin-top:14px}
.stored label{font-weight:400;display:flex;gap:8px;align-items:center;margin:6px 0}
button{width:100%;margin-top:20px;padding:13px;border:0;border-radius:8px;background:#2f6fed;color:#fff;font-size:17px;font-weight:600;cursor:pointer}
button.secondary{background:transparent;color:#2f6fed;margin-top:8px;font-weight:500}
.secure{font-size:13px;color:#5a6478;text-align:center;margin-top:14px}
"#;

/// A whole page.
pub fn page(title: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 4096);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        esc(title)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
