//! `redis+cluster://` store URLs: the nodes of a Redis or Valkey Cluster.

/// The nodes of a cluster URL, `redis+cluster://[user:password@]host:port,host:port,...`
/// (`rediss+cluster://` for TLS), each as a plain `redis://` (`rediss://`)
/// URL with the same credentials; `None` when `url` is not a cluster URL.
/// Errors never repeat the credentials.
pub fn cluster_nodes(url: &str) -> Option<Result<Vec<String>, String>> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("redis+cluster://") {
        ("redis", rest)
    } else {
        ("rediss", url.strip_prefix("rediss+cluster://")?)
    };
    Some(nodes(scheme, rest.strip_suffix('/').unwrap_or(rest)))
}

fn nodes(scheme: &str, rest: &str) -> Result<Vec<String>, String> {
    let (credentials, hosts) = match rest.rsplit_once('@') {
        Some((credentials, hosts)) => (Some(credentials), hosts),
        None => (None, rest),
    };
    if hosts.contains('/') {
        return Err("a cluster has one database: no /DB after the nodes".into());
    }
    hosts
        .split(',')
        .map(|host| {
            let node = match credentials {
                Some(credentials) => format!("{scheme}://{credentials}@{host}"),
                None => format!("{scheme}://{host}"),
            };
            match http::Uri::try_from(node.as_str()) {
                Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) && uri.port().is_some() => {
                    Ok(node)
                }
                _ => Err(format!(
                    "`{host}` is not a node like 10.0.0.5:6379 (write redis+cluster://HOST:PORT,HOST:PORT)"
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_url_names_each_node_with_the_same_credentials() {
        assert_eq!(
            cluster_nodes("redis+cluster://10.0.0.1:7000,10.0.0.2:7001/"),
            Some(Ok(vec![
                "redis://10.0.0.1:7000".to_string(),
                "redis://10.0.0.2:7001".to_string()
            ]))
        );
        assert_eq!(
            cluster_nodes("rediss+cluster://app:p@ss@h1:6380,h2:6380"),
            Some(Ok(vec![
                "rediss://app:p@ss@h1:6380".to_string(),
                "rediss://app:p@ss@h2:6380".to_string()
            ]))
        );
        assert_eq!(cluster_nodes("redis://h:6379/0"), None);
    }

    #[test]
    fn a_bad_node_is_named_without_the_password() {
        for (url, bad) in [
            ("redis+cluster://:secret@h1:7000,h2", "`h2`"),
            ("redis+cluster://:secret@h1:7000,", "``"),
            ("redis+cluster://h1:7000/2", "one database"),
        ] {
            let err = cluster_nodes(url).unwrap().unwrap_err();
            assert!(err.contains(bad), "{url}: {err}");
            assert!(!err.contains("secret"), "{url}: {err}");
        }
    }
}
