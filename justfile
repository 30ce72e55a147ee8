# Developer shortcuts (just is installed in .venv by ./dev setup: .venv/bin/just).
default: test

demo *ARGS:
    ./dev demo {{ARGS}}

test *ARGS:
    ./dev test {{ARGS}}

bench *ARGS:
    ./dev bench {{ARGS}}

# ARM64: cross-compile the tiny test model for pi4/pi5 and compare logits under qemu-user.
arm-check:
    .venv/bin/python tools/arm64_check.py

lint:
    .venv/bin/ruff check agent_sdk tests tools
    .venv/bin/mypy agent_sdk
