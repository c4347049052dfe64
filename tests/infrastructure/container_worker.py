"""A warm container of the emulated deployment: one process per Lambda function or Batch job
definition, started with the environment its template sets, serving one request at a time.

    python container_worker.py WORKDIR lambda HANDLER      (awslambdaric's `module.function`)
    python container_worker.py WORKDIR module MODULE       (`python -m MODULE ARGS...` per request)

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


def main() -> None:
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the code's prints go to the log, not into the protocol
    workdir, mode, target = sys.argv[1:4]
    os.chdir(workdir)
    sys.path.insert(0, workdir)  # `python -m` puts the working directory first
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
            sys.argv = [target, *request["argv"]]
            try:
                runpy.run_module(target, run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception:
                traceback.print_exc()
                code = 1
            answer = {"exitCode": code}
        sys.stderr.flush()
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
