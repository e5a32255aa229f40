//! Kubernetes `$(VAR)` expansion for env values, command and args: `$(NAME)`
//! becomes the variable's value when it is defined, `$$` escapes a `$`, and
//! references to undefined variables stay as they are (as the kubelet does).
use std::collections::BTreeMap;

pub fn expand(input: &str, vars: &BTreeMap<String, String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && i + 1 < bytes.len() {
            match bytes[i + 1] {
                b'$' => {
                    out.push('$');
                    i += 2;
                    continue;
                }
                b'(' => {
                    if let Some(end) = input[i + 2..].find(')') {
                        let name = &input[i + 2..i + 2 + end];
                        match vars.get(name) {
                            Some(v) => out.push_str(v),
                            None => out.push_str(&input[i..i + 3 + end]),
                        }
                        i += 3 + end;
                        continue;
                    }
                }
                _ => {}
            }
        }
        // Push the whole (possibly multi-byte) character starting here.
        let ch = input[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_like_kubernetes() {
        let mut v = BTreeMap::new();
        v.insert("POD_IP".to_string(), "127.1.0.2".to_string());
        v.insert("E".to_string(), String::new());
        assert_eq!(expand("--bind=$(POD_IP):80", &v), "--bind=127.1.0.2:80");
        assert_eq!(expand("$(MISSING) x", &v), "$(MISSING) x");
        assert_eq!(expand("$$(POD_IP)", &v), "$(POD_IP)");
        assert_eq!(expand("a$(E)b", &v), "ab");
        assert_eq!(expand("$(unterminated", &v), "$(unterminated");
        assert_eq!(expand("héllo $ x", &v), "héllo $ x");
    }
}
