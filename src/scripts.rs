//! The Lua scripts, embedded from `lua/` (one file per script, `<name>-<number of keys>.lua`).
//! They run by SHA; the store loads one again when Redis has forgotten it (NOSCRIPT).

use std::sync::LazyLock;

pub struct Script {
  code: &'static str,
  sha: String,
}

impl Script {
  fn new(code: &'static str) -> Script {
    Script {
      code,
      sha: sha1_smol::Sha1::from(code).digest().to_string(),
    }
  }

  /// SCRIPT LOAD of this script.
  pub fn load(&self) -> redis::Cmd {
    let mut cmd = redis::cmd("SCRIPT");
    cmd.arg("LOAD").arg(self.code);
    cmd
  }
}

pub static INDEX_ADD: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/indexAdd-2.lua")));
pub static INDEX_UPDATE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/indexUpdate-1.lua")));
pub static INDEX_INCREMENT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/indexIncrement-1.lua")));
pub static INDEX_DELETE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/indexDelete-2.lua")));

/// SCRIPT LOAD of every script.
pub fn loads() -> Vec<redis::Cmd> {
  [&INDEX_ADD, &INDEX_UPDATE, &INDEX_INCREMENT, &INDEX_DELETE]
    .iter()
    .map(|s| s.load())
    .collect()
}

/// One call of a script, built straight into its EVALSHA command (sent alone or inside a
/// pipeline): the keys come with `new`, the arguments are appended.
pub struct ScriptCall {
  pub script: &'static Script,
  evalsha: redis::Cmd,
}

impl ScriptCall {
  pub fn new(script: &'static Script, keys: &[&str]) -> ScriptCall {
    let mut evalsha = redis::cmd("EVALSHA");
    evalsha.arg(&script.sha).arg(keys.len()).arg(keys);
    ScriptCall { script, evalsha }
  }

  pub fn arg<T: redis::ToRedisArgs>(&mut self, arg: T) -> &mut Self {
    self.evalsha.arg(arg);
    self
  }

  /// The EVALSHA command of this call.
  pub fn evalsha(&self) -> &redis::Cmd {
    &self.evalsha
  }

  pub fn into_evalsha(self) -> redis::Cmd {
    self.evalsha
  }
}

#[cfg(test)]
mod tests {
  #[test]
  fn the_sha_is_the_one_redis_computes() {
    // redis-cli SCRIPT LOAD "return 1"
    assert_eq!(super::Script::new("return 1").sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
  }
}
