//! Reading Unix accounts from the local files, as the system's name service would: which databases
//! `/etc/nsswitch.conf` answers from the files alone ([`files_answer_for_users`]), an account in
//! `/etc/passwd` text ([`find_account`]) and its groups in `/etc/group` text ([`groups_of`]). Pure
//! functions over the files' text; `spawn::resolve_user` reads the files and falls back to glibc's
//! NSS whenever these cannot give the same answer.
//!
//! Why not always NSS: the first lookup loads the NSS modules named in nsswitch.conf into Warden for
//! good (on Debian `libnss_systemd`, which brings libm and libcap: ~0.6 MiB resident, 4 % of Warden's
//! footprint with 200 services), only to read the same two files.

use std::path::PathBuf;

/// A user account as `/etc/passwd` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// What a lookup in the local files found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileLookup<T> {
    Found(T),
    /// Not in the file: NSS may still know it (a later source).
    NotFound,
    /// The file uses NIS compat entries (`+`/`-` lines), whose meaning only NSS knows.
    Unreadable,
}

/// The sources nsswitch.conf lists for `database` (`passwd:  files systemd` → `["files", "systemd"]`),
/// without `[...]` actions; `None` when the database is not configured.
pub fn nss_sources(conf: &str, database: &str) -> Option<Vec<String>> {
    conf.lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .find_map(|line| {
            let (db, sources) = line.split_once(':')?;
            (db.trim() == database).then(|| {
                sources
                    .split_whitespace()
                    .filter(|s| !s.starts_with('['))
                    .map(str::to_string)
                    .collect()
            })
        })
}

/// Whether the files give the same answer as NSS for a user found in `/etc/passwd`: `passwd` is
/// looked up in the files first (NSS stops at the first source that knows the name), and the only
/// other `group` source is systemd's, which adds groups only to users it makes up itself (so never to
/// one in `/etc/passwd`); NSS merges the groups of every source, so LDAP, SSSD or NIS there need NSS.
pub fn files_answer_for_users(conf: &str) -> bool {
    let files_first =
        |db: &str| nss_sources(conf, db).is_some_and(|s| s.first().is_some_and(|f| f == "files"));
    let group_sources_known = nss_sources(conf, "group").is_some_and(|s| {
        s.iter()
            .all(|source| source == "files" || source == "systemd")
    });
    files_first("passwd") && files_first("group") && group_sources_known
}

fn is_compat_entry(line: &str) -> bool {
    line.starts_with('+') || line.starts_with('-')
}

/// The account `name` in `/etc/passwd` text (`name:password:uid:gid:gecos:home:shell`).
pub fn find_account(passwd: &str, name: &str) -> FileLookup<Account> {
    let mut compat = false;
    for line in passwd.lines() {
        if is_compat_entry(line) {
            compat = true;
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 7 || fields[0] != name {
            continue;
        }
        let (Ok(uid), Ok(gid)) = (fields[2].parse(), fields[3].parse()) else {
            // A malformed entry for this very name: let NSS judge it.
            return FileLookup::Unreadable;
        };
        return FileLookup::Found(Account {
            name: name.to_string(),
            uid,
            gid,
            home: PathBuf::from(fields[5]),
        });
    }
    if compat {
        FileLookup::Unreadable
    } else {
        FileLookup::NotFound
    }
}

/// The groups of user `name` in `/etc/group` text (`name:password:gid:member,member`): `primary_gid`
/// first, then every group listing the user as a member, each once — what `getgrouplist` returns
/// from the files.
pub fn groups_of(group: &str, name: &str, primary_gid: u32) -> FileLookup<Vec<u32>> {
    let mut groups = vec![primary_gid];
    for line in group.lines() {
        if is_compat_entry(line) {
            return FileLookup::Unreadable;
        }
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 4 || !fields[3].split(',').any(|member| member.trim() == name) {
            continue;
        }
        let Ok(gid) = fields[2].parse::<u32>() else {
            continue;
        };
        if !groups.contains(&gid) {
            groups.push(gid);
        }
    }
    FileLookup::Found(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
        app:x:1001:1001:App,,,:/home/app:/bin/sh\n\
        broken:x:notanumber:1:::\n";
    const GROUP: &str = "root:x:0:\n\
        adm:x:4:syslog,app\n\
        app:x:1001:\n\
        docker:x:999:other, app\n\
        again:x:1001:app\n\
        junk:x:oops:app\n";

    #[test]
    fn nsswitch_sources_per_database() {
        let conf = "# comment\npasswd:         files systemd\ngroup: files [SUCCESS=merge] systemd # x\nhosts: files dns\n";
        assert_eq!(nss_sources(conf, "passwd").unwrap(), ["files", "systemd"]);
        assert_eq!(nss_sources(conf, "group").unwrap(), ["files", "systemd"]);
        assert_eq!(nss_sources(conf, "shadow"), None);
    }

    #[test]
    fn files_answer_only_when_nss_would_not_add_anything() {
        let debian = "passwd: files systemd\ngroup: files systemd\n";
        assert!(files_answer_for_users(debian));
        assert!(files_answer_for_users("passwd: files\ngroup: files\n"));
        // LDAP/SSSD groups are merged by NSS: the files alone would drop them.
        assert!(!files_answer_for_users(
            "passwd: files sss\ngroup: files sss\n"
        ));
        // A directory consulted before the files.
        assert!(!files_answer_for_users(
            "passwd: ldap files\ngroup: files\n"
        ));
        assert!(!files_answer_for_users("passwd: compat\ngroup: compat\n"));
        // Not configured: leave it to glibc's defaults.
        assert!(!files_answer_for_users(""));
    }

    #[test]
    fn accounts_are_found_by_exact_name() {
        assert_eq!(
            find_account(PASSWD, "app"),
            FileLookup::Found(Account {
                name: "app".into(),
                uid: 1001,
                gid: 1001,
                home: "/home/app".into()
            })
        );
        assert_eq!(find_account(PASSWD, "ap"), FileLookup::NotFound);
        assert_eq!(find_account(PASSWD, "broken"), FileLookup::Unreadable);
        assert_eq!(
            find_account(&format!("{PASSWD}+@netgroup::::::\n"), "ghost"),
            FileLookup::Unreadable
        );
    }

    #[test]
    fn groups_are_the_primary_one_then_memberships_once() {
        assert_eq!(
            groups_of(GROUP, "app", 1001),
            FileLookup::Found(vec![1001, 4, 999])
        );
        assert_eq!(
            groups_of(GROUP, "nobody", 65534),
            FileLookup::Found(vec![65534])
        );
        assert_eq!(groups_of("+:::\n", "app", 1001), FileLookup::Unreadable);
    }
}
