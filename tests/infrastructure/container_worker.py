"""A warm container of the emulated deployment: one process per Lambda function or Batch job
definition, started with the environment its template sets, serving one request at a time.

    python container_worker.py WORKDIR lambda HANDLER      (awslambdaric's `module.function`)
    python container_worker.py WORKDIR module MODULE       (`python -m MODULE ARGS...` per request)
    python container_worker.py WORKDIR main MODULE ARGS... (`python -m MODULE ARGS...` once)

The project's own code is importable only from WORKDIR (what the image's COPY lines put there):
the development install's finder and this script's folder are taken off the import system.

Requests and answers are JSON lines on stdin and on the original stdout; whatever the code prints
goes to stderr (the container's log). Standard library only: it must import nothing of the
project before the image's own paths are set.
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import sys
import traceback
import uuid


class LambdaContext:
    """The attributes of the context object awslambdaric passes to a handler."""

    def __init__(self) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = ""
        self.log_group_name = ""
        self.log_stream_name = ""

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def _error(exc: BaseException, error_type: str | None = None) -> dict:
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc)[-6:],
    }


def _image_paths_only(workdir: str) -> None:
    """Import the project from the image's WORKDIR only, as inside the container."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [workdir] + [p for p in sys.path if p and os.path.abspath(p) != here]
    sys.meta_path[:] = [f for f in sys.meta_path if not str(getattr(f, "__module__", "")).startswith("__editable__")]
    sys.path_hooks[:] = [h for h in sys.path_hooks if not str(getattr(h, "__module__", "")).startswith("__editable__")]
    sys.path_importer_cache.clear()


def _run_module(target: str, argv: list[str]) -> int:
    sys.argv = [target, *argv]
    try:
        runpy.run_module(target, run_name="__main__", alter_sys=True)
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception:
        traceback.print_exc()
        return 1


def main() -> None:
    workdir, mode, target = sys.argv[1:4]
    os.chdir(workdir)
    _image_paths_only(workdir)  # `python -m` puts the working directory first
    if mode == "main":
        sys.exit(_run_module(target, sys.argv[4:]))
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the code's prints go to the log, not into the protocol
    handler, init_error = None, None
    if mode == "lambda":
        module_name, _, attribute = target.rpartition(".")
        try:
            handler = getattr(importlib.import_module(module_name), attribute)
        except Exception as exc:  # Lambda reports this on every invoke of the function
            init_error = _error(exc, "Runtime.ImportModuleError")
    for line in sys.stdin:
        request = json.loads(line)
        if mode == "lambda":
            if init_error is not None:
                answer = {"error": init_error}
            else:
                try:
                    answer = {"result": json.loads(json.dumps(handler(request["event"], LambdaContext())))}
                except Exception as exc:  # an unhandled exception: a function error
                    traceback.print_exc()
                    answer = {"error": _error(exc)}
        else:
            answer = {"exitCode": _run_module(target, request["argv"])}
        sys.stderr.flush()
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
