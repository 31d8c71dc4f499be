//! A new key for a key list (`digit-user admin rotate-keys --add`): a fresh random key with the next id,
//! appended where the list is kept — its `*_FILE` or the data dir's file, rewritten whole (a new file,
//! 0600, synced, renamed over the old one). A list given in the environment cannot be changed from here:
//! the operator adds the key where the environment comes from.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{SecretError, SecretName, fresh, list_text, parse_keys, read};
use crate::config::EnvSource;

/// Where a key list is kept.
fn home(name: SecretName, data_dir: &Path, env: &dyn EnvSource) -> Result<PathBuf, SecretError> {
    if env.var(name.var).is_some_and(|v| !v.trim().is_empty()) {
        return Err(SecretError::Format {
            var: name.var,
            reason: "it is set in the environment: add `<next id>:<base64 of 32 random bytes>` to it where \
                     the environment comes from (e.g. `head -c 32 /dev/urandom | base64`), then run \
                     rotate-keys without --add"
                .into(),
        });
    }
    let file_var = format!("{}_FILE", name.var);
    Ok(match env.var(&file_var).filter(|v| !v.trim().is_empty()) {
        Some(path) => PathBuf::from(path),
        None => data_dir.join("secrets").join(name.file),
    })
}

/// Appends a fresh key to list `name`; the new key's id.
pub fn add_key(name: SecretName, data_dir: &Path, env: &dyn EnvSource) -> Result<u32, SecretError> {
    let path = home(name, data_dir, env)?;
    let mut keys = parse_keys(name.var, &read(name.var, &path)?)?;
    let id = keys.iter().map(|(id, _)| *id).max().unwrap_or(0) + 1;
    keys.push((id, *fresh()?));
    let text = list_text(&keys, false);
    for (_, key) in &mut keys {
        zeroize::Zeroize::zeroize(key);
    }
    let io = |source| SecretError::Io {
        var: name.var,
        path: path.clone(),
        source,
    };
    let partial = path.with_extension("partial");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .map_err(io)?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io)?;
    fs::rename(&partial, &path).map_err(io)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapEnv;
    use crate::secrets::{OTP_PEPPER, SEALING_KEYS, Secrets};

    #[test]
    fn a_key_is_added_with_the_next_id_and_the_old_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let env = MapEnv::default();
        let before = Secrets::load_or_generate(dir.path(), &env, true).unwrap();
        assert_eq!(add_key(SEALING_KEYS, dir.path(), &env).unwrap(), 2);
        assert_eq!(add_key(OTP_PEPPER, dir.path(), &env).unwrap(), 2);
        let after = Secrets::load_or_generate(dir.path(), &env, false).unwrap();
        assert_eq!(after.sealing[0], before.sealing[0]);
        assert_eq!(after.sealing.len(), 2);
        assert_eq!(
            after.otp_pepper[0], before.otp_pepper[0],
            "the bare key is key 1"
        );
        assert_ne!(after.otp_pepper[1].1, after.otp_pepper[0].1);
        let in_env = MapEnv::of(&[("DIGIT_USER_OTP_PEPPER", "AAAA")]);
        let err = add_key(OTP_PEPPER, dir.path(), &in_env).unwrap_err();
        assert!(err.to_string().contains("environment"), "{err}");
    }
}
