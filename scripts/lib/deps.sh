# Installs what building and testing gapwatch needs, when it is missing.
# Sourced by scripts/test.sh and scripts/quickstart.sh.

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_build_deps() {
    # libclang for RocksDB's bindings; a C++ compiler, cmake-free builds of
    # librdkafka need make, perl and the OpenSSL, SASL and zlib headers.
    apt_install libclang-dev g++ make pkg-config libssl-dev zlib1g-dev perl python3
    if ! command -v cargo >/dev/null 2>&1; then
        if [ -x "$HOME/.cargo/bin/cargo" ]; then
            export PATH="$HOME/.cargo/bin:$PATH"
        else
            echo "cargo is missing: install Rust with rustup first" >&2
            return 1
        fi
    fi
    if command -v rustup >/dev/null 2>&1; then
        for c in rustfmt clippy; do
            rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
        done
    fi
    command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless
    command -v mvn >/dev/null 2>&1 || apt_install maven
}

# What the test suite runs besides Kafka: the real Prometheus, Alertmanager
# and promtool, and headless Chromium for the gaps page.
ensure_test_deps() {
    apt_install prometheus prometheus-alertmanager chromium python3-venv
}

# Schemathesis (PyPI), pinned, in a virtualenv of the repo's own.
SCHEMATHESIS_VERSION=4.32.5
ensure_schemathesis() {
    local venv="$1"
    if [ -x "$venv/bin/st" ] && "$venv/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
        return 0
    fi
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
}
