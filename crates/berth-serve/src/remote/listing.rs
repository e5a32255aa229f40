//! S3's ListObjectsV2 and error responses, read with a few lines of tag scanning:
//! the documents are small, flat and machine-written, so a full XML parser would
//! only add a dependency.

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub key: String,
    pub size: u64,
    pub etag: String,
}

/// One page of ListObjectsV2.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Page {
    pub objects: Vec<Object>,
    /// `CommonPrefixes` (only with a delimiter).
    pub prefixes: Vec<String>,
    /// Set when the listing continues on another page.
    pub next_token: Option<String>,
}

pub fn parse_page(xml: &str) -> Result<Page, String> {
    if !xml.contains("<ListBucketResult") {
        return Err(format!("not a ListBucketResult: {}", excerpt(xml)));
    }
    let mut page = Page::default();
    for contents in blocks(xml, "Contents") {
        let key = text(contents, "Key").ok_or("a Contents entry without Key")?;
        let size = text(contents, "Size").and_then(|s| s.parse().ok()).ok_or("a Contents entry without a Size")?;
        page.objects.push(Object { key, size, etag: text(contents, "ETag").unwrap_or_default() });
    }
    for common in blocks(xml, "CommonPrefixes") {
        page.prefixes.extend(text(common, "Prefix"));
    }
    if text(xml, "IsTruncated").as_deref() == Some("true") {
        page.next_token =
            Some(text(xml, "NextContinuationToken").ok_or("IsTruncated without a NextContinuationToken")?);
    }
    Ok(page)
}

/// `Code: Message` of an S3 `<Error>` body, or an excerpt of whatever came.
pub fn error_message(body: &str) -> String {
    match (text(body, "Code"), text(body, "Message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code,
        _ => excerpt(body),
    }
}

fn excerpt(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(200) {
        Some((at, _)) => format!("{}...", &body[..at]),
        None => body.to_string(),
    }
}

/// The inner text of every `<tag>...</tag>` in `xml`, in order.
fn blocks<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    out
}

/// The unescaped text of the first `<tag>` in `xml` (CDATA taken as it is).
fn text(xml: &str, tag: &str) -> Option<String> {
    blocks(xml, tag).first().map(|t| match t.trim().strip_prefix("<![CDATA[").and_then(|r| r.strip_suffix("]]>")) {
        Some(raw) => raw.to_string(),
        None => unescape(t),
    })
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => out.push(c),
            None => out.push_str(&tail[..=end]),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>models</Name><Prefix>tiny/</Prefix><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys>
  <IsTruncated>true</IsTruncated><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents><Key>tiny/1/model.onnx</Key><LastModified>2026-11-26T01:00:00.000Z</LastModified>
    <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>4100000</Size><StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>tiny/1/a &amp; b.txt</Key><ETag>"e1"</ETag><Size>0</Size></Contents>
  <CommonPrefixes><Prefix>tiny/2/</Prefix></CommonPrefixes>
</ListBucketResult>"#;

    #[test]
    fn objects_prefixes_and_continuation() {
        let page = parse_page(PAGE).unwrap();
        assert_eq!(page.objects.len(), 2);
        assert_eq!(page.objects[0].key, "tiny/1/model.onnx");
        assert_eq!(page.objects[0].size, 4_100_000);
        assert_eq!(page.objects[0].etag, "\"9b2cf535f27731c974343645a3985328\"");
        assert_eq!(page.objects[1].key, "tiny/1/a & b.txt");
        assert_eq!(page.prefixes, ["tiny/2/"]);
        assert_eq!(page.next_token.as_deref(), Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="));
        let last = PAGE.replace("<IsTruncated>true</IsTruncated>", "<IsTruncated>false</IsTruncated>");
        assert_eq!(parse_page(&last).unwrap().next_token, None);
    }

    #[test]
    fn errors_and_garbage() {
        let error = "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>";
        assert_eq!(error_message(error), "NoSuchBucket: The specified bucket does not exist");
        assert!(parse_page(error).unwrap_err().contains("NoSuchBucket"));
        assert_eq!(error_message("plain text"), "plain text");
        let cdata = "<Error><Code>SignatureDoesNotMatch</Code><Message><![CDATA[a & b]]></Message></Error>";
        assert_eq!(error_message(cdata), "SignatureDoesNotMatch: a & b");
        assert!(parse_page("<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>").is_err());
        assert_eq!(unescape("&#65;&#x42;&bogus; & x"), "AB&bogus; & x");
    }
}
