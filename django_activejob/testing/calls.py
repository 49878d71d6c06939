"""Tell whether a helper was called as a ``with`` statement's expression or as a plain call.

Rails' helpers take an optional block: ``assert_enqueued_jobs 1`` checks the
current count, ``assert_enqueued_jobs 1 do ... end`` counts inside the
block. Python's ``with`` statement gives the helper no sign of which form
it is in until ``__enter__``, too late for a plain call that must check at
once. So the helper reads the caller's bytecode: a ``with`` statement
evaluates its expression and then runs ``BEFORE_WITH`` (CPython 3.11 to
3.13) or ``COPY`` and ``LOAD_SPECIAL`` (CPython 3.14).
"""

from __future__ import annotations

import dis
import functools
import sys
from types import CodeType, FrameType

#: Opcodes that end a call whose result a function returns straight to its caller.
_RETURN_OPCODES = frozenset({"RETURN_VALUE"})


def called_in_with_statement(depth: int = 2) -> bool:
    """Return whether the call to the function that calls this one is the expression of a ``with``.

    ``depth`` counts frames up from this function: 2 is the caller of the
    helper that calls this function. A wrapper that returns the helper's result directly
    (``return helper.assert_enqueued_jobs(1)``) is looked through, so the
    test case mixin's methods work in both forms. Any other code
    between the call and the ``with``, such as ``ExitStack.enter_context``
    or storing the result in a variable first, makes it a plain call.
    """
    frame: FrameType | None = sys._getframe(depth)
    while frame is not None:
        following = _opcodes_after(frame.f_code, frame.f_lasti)
        if following[:1] == ("BEFORE_WITH",):
            return True
        # NOTE: the CPython 3.14 sequence follows its codegen_with (gh-120507,
        # which removed BEFORE_WITH); the test suite runs on 3.11 to 3.13 only.
        if following[:2] == ("COPY", "LOAD_SPECIAL"):
            return True
        if following[:1] and following[0] in _RETURN_OPCODES:
            frame = frame.f_back
            continue
        return False
    return False


@functools.lru_cache(maxsize=4096)
def _opcodes_after(code: CodeType, offset: int) -> tuple[str, ...]:
    """Return the names of the two instructions that follow the running one, caches skipped.

    ``offset`` is a frame's ``f_lasti``. CPython 3.11 may report the offset
    of one of the running CALL's inline cache entries instead of the CALL
    itself, so the next instruction is the first one that starts after it.
    """
    names: list[str] = []
    for instruction in dis.get_instructions(code):
        if instruction.offset > offset:
            names.append(instruction.opname)
            if len(names) == 2:
                break
    return tuple(names)
