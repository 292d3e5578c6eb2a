# Sourced by start_app.sh and run_tests.sh: install ffmpeg (Debian package) when missing and we
# may, create the venv and install pinned dependencies when missing or when a requirements file
# changed (hash stamp).
# Usage: bootstrap_venv REQUIREMENTS_FILE...
# The no-op path (ffmpeg there, venv works, stamp matches) runs no apt or pip and takes ~0.05 s.
# DIE_PREFIX (default "error") starts every fatal message: start_app.sh sets STARTUP_FAILED.

TORCH_PIN="torch==2.13.0"
# Which build of torch (README "Installing for CPU or NVIDIA GPUs"):
#   unset or "default": plain `pip install torch==2.13.0`, whatever pip's index serves (from PyPI on Linux
#                       x86_64 that is a CUDA build, ~3 GB download with its nvidia-* libraries; it runs on
#                       CPUs too); on this project's CI and dev machines pip finds a local CPU wheel;
#   "cpu":              PyTorch's CPU-only build (~0.2 GB download), no GPU support;
#   "cu126", "cu128"...: that CUDA build from PyTorch's own index (the driver must support that CUDA version).
# TORCH_INDEX_BASE replaces PyTorch's index (a mirror) for the cpu/cuXYZ variants.
TORCH_VARIANT="${TORCH_VARIANT:-default}"
TORCH_INDEX_BASE="${TORCH_INDEX_BASE:-https://download.pytorch.org/whl}"
# Installed with --no-deps: its declared dependency 'webrtcvad' does not build here (requirements.txt has
# webrtcvad-wheels, librosa and scipy instead). Voice cloning loads its speaker-encoder weights.
NODEPS_PINS=("resemblyzer==0.1.4")
VENV_DIR="${INDEXTTS_VENV:-.venv}"

die() { echo "${DIE_PREFIX:-error}: $*" >&2; exit 1; }

# install_system_packages WITHOUT_THEM PKG...: apt-get install the Debian packages not installed yet,
# when we may (root and apt-get); else warn what is missing and WITHOUT_THEM (what that costs), go on.
install_system_packages() {
    local without=$1 missing=() pkg
    shift
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "warning: cannot install ${missing[*]} (needs root and apt-get); $without" >&2
        return 0
    fi
    echo "installing system packages: ${missing[*]}"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || echo "warning: apt-get could not install ${missing[*]}; $without" >&2
}

bootstrap_venv() {
    # Gradio encodes the page's live player (segments played while the rest is generated) with ffmpeg.
    command -v ffmpeg >/dev/null 2>&1 \
        || install_system_packages "the page will not play segments while the rest is generated" ffmpeg
    command -v python3 >/dev/null 2>&1 || die "python3 not found: install Python 3.11 (apt-get install -y python3 python3-venv)"
    # One stamp per set of files, so start_app.sh and run_tests.sh do not undo each other.
    # The stamp covers the torch pin, the files and the base interpreter's version.
    local stamp_file="$VENV_DIR/.stamp-$(echo "$*" | tr ' /' '+_')" want have="" py_version
    py_version=$(python3 -c 'import sys; print(sys.version.split()[0])') \
        || die "python3 does not run; reinstall it (apt-get install -y python3)"
    local torch_args=()
    case "$TORCH_VARIANT" in
        default) ;;
        cpu|cu[0-9]*) torch_args=(--index-url "$TORCH_INDEX_BASE/$TORCH_VARIANT") ;;
        *) die "TORCH_VARIANT=$TORCH_VARIANT is not a torch build: use cpu, a CUDA build such as cu126 or cu128, or leave it unset" ;;
    esac
    want=$( { echo "$TORCH_PIN $TORCH_VARIANT"; echo "${NODEPS_PINS[*]}"; echo "python $py_version"; cat "$@"; } | sha256sum | cut -d' ' -f1)
    [ -f "$stamp_file" ] && have=$(cat "$stamp_file")
    if [ "$want" = "$have" ] && "$VENV_DIR/bin/python" -c '' >/dev/null 2>&1; then
        return 0
    fi
    if ! "$VENV_DIR/bin/python" -c '' >/dev/null 2>&1; then
        # Missing, or broken (e.g. the system Python it pointed at was upgraded): (re)create it.
        echo "creating virtual environment in $VENV_DIR"
        python3 -m venv --clear "$VENV_DIR" \
            || die "could not create a venv in $VENV_DIR: install python3-venv (apt-get install -y python3-venv)"
    fi
    local pip=("$VENV_DIR/bin/python" -m pip install --disable-pip-version-check -q)
    echo "installing dependencies (first run takes a minute or two)"
    # torch first and pinned: anything that pulls a newer torch would drag in GBs of CUDA wheels.
    # pip counts any build of 2.13.0 as installed, so another variant replaces the one there.
    local variant_file="$VENV_DIR/.torch-variant"
    if [ -f "$variant_file" ] && [ "$(cat "$variant_file")" != "$TORCH_VARIANT" ]; then
        echo "switching torch to the $TORCH_VARIANT build"
        "$VENV_DIR/bin/python" -m pip uninstall -y -q torch || true
    fi
    echo "installing $TORCH_PIN ($TORCH_VARIANT build)"
    "${pip[@]}" "${torch_args[@]}" "$TORCH_PIN" \
        || die "could not install $TORCH_PIN, $TORCH_VARIANT build (is the package index reachable? see pip's message above)"
    echo "$TORCH_VARIANT" > "$variant_file"
    local req args=()
    for req in "$@"; do args+=(-r "$req"); done
    "${pip[@]}" "${args[@]}" || die "could not install the pinned requirements ($*); see pip's message above"
    "${pip[@]}" --no-deps "${NODEPS_PINS[@]}" || die "could not install ${NODEPS_PINS[*]}; see pip's message above"
    echo "$want" > "$stamp_file.tmp" && mv -f "$stamp_file.tmp" "$stamp_file"
}
