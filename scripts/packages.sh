# Sourced by the set-up scripts: installs the Debian packages given that are missing (and kubectl).
install_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  command -v kubectl >/dev/null || missing+=(kubectl)
  [ ${#missing[@]} -gt 0 ] || return 0
  printf '\033[1m==> installing system packages: %s\033[0m\n' "${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: installing ${missing[*]} needs root (apt-get)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
