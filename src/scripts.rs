//! The Lua scripts, embedded from `lua/`: one file per script, `<name>-<number of keys>.lua`, each
//! run with `lua/shared.lua` (the helpers they share) before it. The number in the file name is
//! the most keys EVALSHA sends (on a cluster, only those in the first key's slot). They run by SHA; Redis gets them at login, and again when it has
//! forgotten them (NOSCRIPT, see store/call.rs).

use std::sync::LazyLock;

pub struct Script {
  code: &'static str,
  sha: String,
  keys: usize,
}

/// The script `lua/<file>.lua`, after the shared helpers.
macro_rules! script {
  ($file:literal) => {
    LazyLock::new(|| {
      Script::new(
        $file,
        concat!(include_str!("../lua/shared.lua"), include_str!(concat!("../lua/", $file, ".lua"))),
      )
    })
  };
}

pub static INDEX_ADD: LazyLock<Script> = script!("indexAdd-2");
pub static INDEX_UPDATE: LazyLock<Script> = script!("indexUpdate-2");
pub static INDEX_INCREMENT: LazyLock<Script> = script!("indexIncrement-2");
pub static INDEX_DELETE: LazyLock<Script> = script!("indexDelete-2");

fn all() -> [&'static Script; 4] {
  [&INDEX_ADD, &INDEX_UPDATE, &INDEX_INCREMENT, &INDEX_DELETE]
}

impl Script {
  fn new(file: &str, code: &'static str) -> Script {
    let keys = file.rsplit_once('-').and_then(|(_, n)| n.parse().ok());
    Script {
      code,
      sha: sha1_smol::Sha1::from(code).digest().to_string(),
      keys: keys.expect("a script file is named <name>-<number of keys>.lua"),
    }
  }

  /// SCRIPT LOAD of this script.
  fn load(&self) -> redis::Cmd {
    let mut cmd = redis::cmd("SCRIPT");
    cmd.arg("LOAD").arg(self.code);
    cmd
  }
}

/// SCRIPT LOAD of every script.
pub fn loads() -> Vec<redis::Cmd> {
  all().iter().map(|s| s.load()).collect()
}

/// One call of a script, built straight into its EVALSHA command: the keys come with `new`, the
/// arguments are appended.
pub struct ScriptCall(redis::Cmd);

impl ScriptCall {
  pub fn new(script: &'static Script, keys: &[&str]) -> ScriptCall {
    // on a cluster a script may be given fewer keys: those that share the first one's slot
    debug_assert!(keys.len() <= script.keys, "at most the keys its file name promises");
    // room for the keys and a few arguments: a command grown argument by argument reallocates
    let bytes = 16 + script.sha.len() + keys.iter().map(|k| k.len()).sum::<usize>() + 64;
    let mut evalsha = redis::Cmd::with_capacity(3 + keys.len() + 4, bytes);
    evalsha.arg("EVALSHA").arg(&script.sha).arg(keys.len()).arg(keys);
    ScriptCall(evalsha)
  }

  pub fn arg<T: redis::ToRedisArgs>(&mut self, arg: T) -> &mut Self {
    self.0.arg(arg);
    self
  }

  pub fn into_evalsha(self) -> redis::Cmd {
    self.0
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn the_sha_is_the_one_redis_computes() {
    // redis-cli SCRIPT LOAD "return 1"
    assert_eq!(Script::new("x-0", "return 1").sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
  }

  #[test]
  fn each_header_documents_the_keys_its_file_name_promises() {
    for script in all() {
      let documented = (1..=9).take_while(|n| script.code.contains(&format!("KEYS[{n}]"))).count();
      assert_eq!(documented, script.keys, "{}", &script.code[..script.code.len().min(400)]);
      assert!(!script.code.contains(&format!("KEYS[{}]", script.keys + 1)));
    }
  }
}
