#!/usr/bin/env bash
# Create or update the project venv (.venv) so that `make demo` / `make test` work on a fresh machine.
# Looks for a Python >= 3.12: $PYTHON, then python3.13, python3.12, then pyenv's 3.12/3.13.
# Idempotent: reinstalls only when pyproject.toml or the pins change (stamp file in the venv).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${HOMFX_VENV:-$here/.venv}"

is_ok() {  # $1 = interpreter; succeeds if it is Python >= 3.12
  [ -n "$1" ] && command -v "$1" >/dev/null 2>&1 &&
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null
}

find_python() {
  local cands=("${PYTHON:-}" python3.13 python3.12)
  if command -v pyenv >/dev/null 2>&1; then
    local root; root="$(pyenv root)"
    cands+=("$root"/versions/3.12*/bin/python "$root"/versions/3.13*/bin/python)
  elif [ -d "$HOME/.pyenv/versions" ]; then
    cands+=("$HOME"/.pyenv/versions/3.12*/bin/python "$HOME"/.pyenv/versions/3.13*/bin/python)
  fi
  for c in "${cands[@]}"; do
    if is_ok "$c"; then command -v "$c"; return 0; fi
  done
  return 1
}

stamp="$venv/.homfx-stamp"
want="$(cat "$here/pyproject.toml" "$here/tools/constraints.txt" | sha256sum | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
  py="$(find_python)" || {
    echo "homfx set-up: no Python >= 3.12 found." >&2
    echo "  Tried \$PYTHON, python3.13, python3.12 and pyenv's versions/3.12*, 3.13*." >&2
    echo "  The dolfinx wheel (dolfinx-solver-real) needs Python >= 3.12: install one, or set PYTHON=/path/to/python3.12." >&2
    exit 1
  }
  echo "homfx set-up: creating $venv with $py ($("$py" --version 2>&1))"
  "$py" -m venv "$venv"
fi
log="$venv/homfx-install.log"
echo "homfx set-up: installing pinned dependencies into $venv (log: $log)"
if ! { "$venv/bin/python" -m pip install --upgrade pip &&
       "$venv/bin/python" -m pip install -c "$here/tools/constraints.txt" -e "$here[dev]"; } > "$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "homfx set-up: pip install failed (full log: $log)" >&2
  exit 1
fi
echo "$want" > "$stamp"
echo "homfx set-up: done"
