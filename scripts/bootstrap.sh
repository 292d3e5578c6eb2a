# Sourced by start_app.sh and run_tests.sh: create the venv and install pinned
# dependencies when missing or when a requirements file changed (hash stamp).
# Usage: bootstrap_venv REQUIREMENTS_FILE...

TORCH_PIN="torch==2.13.0"
VENV_DIR="${INDEXTTS_VENV:-.venv}"

die() { echo "error: $*" >&2; exit 1; }

bootstrap_venv() {
    command -v python3 >/dev/null 2>&1 || die "python3 not found: install Python 3.11 (apt-get install -y python3 python3-venv)"
    # One stamp per set of files, so start_app.sh and run_tests.sh do not undo each other.
    local stamp_file="$VENV_DIR/.stamp-$(echo "$*" | tr ' /' '+_')" want have=""
    want=$( { echo "$TORCH_PIN"; cat "$@"; } | sha256sum | cut -d' ' -f1)
    [ -f "$stamp_file" ] && have=$(cat "$stamp_file")
    if [ -x "$VENV_DIR/bin/python" ] && [ "$want" = "$have" ]; then
        return 0
    fi
    if [ ! -x "$VENV_DIR/bin/python" ]; then
        echo "creating virtual environment in $VENV_DIR"
        python3 -m venv "$VENV_DIR" || die "could not create a venv: install python3-venv (apt-get install -y python3-venv)"
    fi
    local pip=("$VENV_DIR/bin/python" -m pip install --disable-pip-version-check -q)
    echo "installing dependencies (first run takes a minute or two)"
    # torch first and pinned: anything that pulls a newer torch would drag in GBs of CUDA wheels.
    "${pip[@]}" "$TORCH_PIN" || die "could not install $TORCH_PIN"
    local req args=()
    for req in "$@"; do args+=(-r "$req"); done
    "${pip[@]}" "${args[@]}" || die "could not install the pinned requirements ($*)"
    echo "$want" > "$stamp_file"
}
