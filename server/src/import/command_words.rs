//! Turning other supervisors' command lines into the `/bin/sh -c` command Warden runs, keeping each
//! argument exactly: supervisord splits `command=` like Python's `shlex.split`, PM2 runs an interpreter
//! with a script and arguments, and systemd splits `ExecStart=` its own way and substitutes `$VAR`
//! (split at whitespace) and `${VAR}` (one word) from the unit's environment — which the shell does the
//! same way when the variable is left unquoted or double-quoted.

/// One piece of a systemd word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    /// `${NAME}`: the value as is, inside one word.
    Braced(String),
}

/// One systemd command-line word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// `$NAME` standing alone: the value split at whitespace into words.
    Split(String),
    Pieces(Vec<Piece>),
}

/// Quotes one argument for `sh -c` the way Python's `shlex.quote` does: as it is when it holds only
/// characters the shell treats literally (`A-Za-z0-9_@%+=:,./-`), else in single quotes.
pub fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\"'\"'"))
    }
}

/// Joins plain arguments into one shell command line.
pub fn join(args: &[String]) -> String {
    args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

/// Splits a command line the way Python's `shlex.split` does (supervisord's `command=`, PM2's `args`).
pub fn split_posix(text: &str) -> Result<Vec<String>, String> {
    shlex::split(text).ok_or_else(|| "unbalanced quotes in the command line".to_string())
}

/// The shell form of systemd words.
pub fn systemd_to_shell(words: &[Word]) -> String {
    words
        .iter()
        .map(|w| match w {
            Word::Split(name) => format!("${name}"),
            Word::Pieces(pieces) => {
                if pieces.is_empty() {
                    return "''".to_string();
                }
                pieces
                    .iter()
                    .map(|p| match p {
                        Piece::Text(t) => quote(t),
                        Piece::Braced(name) => format!("\"${{{name}}}\""),
                    })
                    .collect::<String>()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_var_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits an `ExecStart=` value into words (systemd.service(5) "Command lines"): double and single
/// quotes, C-style backslash escapes, `$NAME` alone as a word, `${NAME}` anywhere and `$$` for a
/// dollar. `substitute = false` (the `:` prefix) keeps every `$` literal.
pub fn split_systemd(text: &str, substitute: bool) -> Result<Vec<Word>, String> {
    let mut words = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let mut pieces: Vec<Piece> = Vec::new();
        let mut text_buf = String::new();
        let mut quote_char: Option<char> = None;
        let mut any_quote = false;
        while i < chars.len() {
            let c = chars[i];
            match quote_char {
                None if c.is_whitespace() => break,
                None if c == '"' || c == '\'' => {
                    quote_char = Some(c);
                    any_quote = true;
                    i += 1;
                    continue;
                }
                Some(q) if c == q => {
                    quote_char = None;
                    i += 1;
                    continue;
                }
                _ => {}
            }
            if c == '\\' && quote_char != Some('\'') {
                let Some(&next) = chars.get(i + 1) else {
                    return Err("the command line ends with a lone backslash".into());
                };
                text_buf.push(match next {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
                i += 2;
                continue;
            }
            if c == '$' && substitute {
                if chars.get(i + 1) == Some(&'$') {
                    text_buf.push('$');
                    i += 2;
                    continue;
                }
                if chars.get(i + 1) == Some(&'{') {
                    let close = chars[i + 2..].iter().position(|&c| c == '}');
                    if let Some(len) = close {
                        let name: String = chars[i + 2..i + 2 + len].iter().collect();
                        if !name.is_empty() && name.chars().all(is_var_char) {
                            if !text_buf.is_empty() {
                                pieces.push(Piece::Text(std::mem::take(&mut text_buf)));
                            }
                            pieces.push(Piece::Braced(name));
                            i += 3 + len;
                            continue;
                        }
                    }
                }
            }
            text_buf.push(c);
            i += 1;
        }
        if quote_char.is_some() {
            return Err("unbalanced quotes in the command line".into());
        }
        if !text_buf.is_empty() {
            pieces.push(Piece::Text(text_buf));
        }
        let raw: String = chars[start..i].iter().collect();
        let lone_var = substitute
            && !any_quote
            && raw.len() > 1
            && raw.starts_with('$')
            && raw[1..].chars().all(is_var_char)
            && !raw[1..].starts_with(|c: char| c.is_ascii_digit());
        if lone_var {
            words.push(Word::Split(raw[1..].to_string()));
        } else {
            words.push(Word::Pieces(pieces));
        }
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(text: &str) -> String {
        systemd_to_shell(&split_systemd(text, true).unwrap_or_default())
    }

    #[test]
    fn systemd_words_keep_their_arguments_in_the_shell_form() {
        // From Debian's ssh.service and nginx.service.
        assert_eq!(
            shell("/usr/sbin/sshd -D $SSHD_OPTS"),
            "/usr/sbin/sshd -D $SSHD_OPTS"
        );
        assert_eq!(
            shell("/usr/sbin/nginx -g 'daemon on; master_process on;'"),
            "/usr/sbin/nginx -g 'daemon on; master_process on;'"
        );
        assert_eq!(shell("/bin/echo \"a b\" c\\ d"), "/bin/echo 'a b' 'c d'");
        assert_eq!(
            shell("/bin/echo --x=${HOME}/y"),
            "/bin/echo --x=\"${HOME}\"/y"
        );
        assert_eq!(shell("/bin/echo $$5"), "/bin/echo '$5'");
        assert_eq!(shell("/bin/echo ''"), "/bin/echo ''");
        let literal = split_systemd("/bin/echo $HOME", false).unwrap_or_default();
        assert_eq!(systemd_to_shell(&literal), "/bin/echo '$HOME'");
        assert!(split_systemd("/bin/echo \"open", true).is_err());
    }

    #[test]
    fn posix_split_and_join_round_trip() {
        let args =
            split_posix("/usr/bin/python3 -c 'print(\"hi there\")' >out").unwrap_or_default();
        assert_eq!(
            args,
            vec!["/usr/bin/python3", "-c", "print(\"hi there\")", ">out"]
        );
        assert_eq!(
            join(&args),
            "/usr/bin/python3 -c 'print(\"hi there\")' '>out'"
        );
        assert!(split_posix("a 'b").is_err());
    }
}
