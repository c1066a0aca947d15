"""Lambda's runtime loop for one warm worker process: run as a script by the local runtime's
Python 3.12, with the function's unpacked zip as the only code on sys.path (like /var/task).

Standard library only: it must not import anything the function's zip does not ship.
Requests and responses are JSON lines on stdin and the original stdout; the function's own
prints and logs go to stderr, which the parent turns into log lines; after each invocation an
`END RequestId: ID` line there (as Lambda logs it) tells the parent that output is complete.
"""

import importlib
import json
import logging
import os
import sys
import time
import traceback

END = "END RequestId: "  # workers.py reads it: keep the two equal


class Context:
    """The parts of Lambda's context object handlers use."""

    def __init__(self, request: dict) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = "$LATEST"
        self.invoked_function_arn = request.get("function_arn", "")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.aws_request_id = request.get("request_id", "")
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + request.get("timeout_ms", 3000) / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _error(exc: BaseException, kind: str = "") -> dict:
    return {
        "ok": False,
        "errorType": kind or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc)[-6:],
    }


def main() -> None:
    code_dir, handler_name = sys.argv[1], sys.argv[2]
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # a print in the function must not corrupt the protocol
    sys.path.insert(0, code_dir)
    os.chdir(code_dir)
    logging.basicConfig(level=os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO"), stream=sys.stderr)
    module_name, _, func_name = handler_name.rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), func_name)
        init_error = None
    except Exception as exc:  # as Lambda: every invocation reports the init failure
        handler, init_error = None, _error(exc, "Runtime.ImportModuleError")
    for line in sys.stdin:
        request = json.loads(line)
        if init_error is not None:
            reply = init_error
        else:
            try:
                reply = {"ok": True, "result": handler(request["event"], Context(request))}
            except Exception as exc:  # as Lambda: any error of the handler is the invocation's error
                reply = _error(exc)
        try:
            text = json.dumps(reply)
        except (TypeError, ValueError) as exc:
            text = json.dumps(_error(exc, "Runtime.MarshalError"))
        sys.stderr.write(f"{END}{request.get('request_id', '')}\n")  # before the reply: all output precedes it
        sys.stderr.flush()
        replies.write(text + "\n")


if __name__ == "__main__":
    main()
