"""Signatures shared by the engine's units: read requests, write requests, compute results, the
external memory port's requests.

Every signature is seen from the unit that *initiates* (``Out`` members are what it drives);
the unit that serves one (the unified buffer, an arbiter) has it flipped: ``In(sig)``. Each
is built from its parameters, with the keyword-only, validating constructor, the equality and
the repr of :class:`amaranth.lib.stream.Signature` (so that :func:`amaranth.lib.wiring.connect`
accepts two signatures built from the same parameters).
"""

from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["BusRequest", "ReadRequest", "Result", "WriteRequest"]


def _need(name: str, value, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise TypeError(f"{name} must be an integer >= {minimum}, not {value!r}")


class _Params(wiring.Signature):
    """A signature determined by its keyword parameters (compared and printed by them)."""

    def __init__(self, members, **params):
        self._params = params
        super().__init__(members)

    def __eq__(self, other):
        return type(other) is type(self) and other._params == self._params

    def __hash__(self):  # signatures are compared by value; keep them usable as keys
        return hash((type(self).__name__, tuple(sorted(self._params.items()))))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"{type(self).__name__}({args})"


class ReadRequest(_Params):
    """A read of a synchronous memory port, seen from the reader.

    Parameters
    ----------
    addr_width, data_width : int
        Widths of the address and of one data word.
    words : int
        Words a read returns (the unified buffer's wide port returns ``ub_banks``); with 1,
        ``data`` is a plain signal, else an array.
    enable : bool
        Whether the reader says when it reads (``en``): a port that several units share is
        given to the one whose ``en`` is set; a port's own side has no ``en`` (it reads every
        cycle).

    Members
    -------
    en : ``Out(1)`` (with ``enable``)
        The reader drives ``addr`` this cycle.
    addr : ``Out(addr_width)``
        The address.
    data : ``In(data_width)`` or ``In(data_width).array(words)``
        The word(s) at the address of the *previous* cycle (one cycle of latency; a word
        written in that cycle reads as its old value).
    """

    def __init__(self, *, addr_width: int, data_width: int, words: int = 1,
                 enable: bool = True):
        _need("addr_width", addr_width)
        _need("data_width", data_width)
        _need("words", words)
        members = {"addr": Out(addr_width),
                   "data": In(data_width) if words == 1 else In(data_width).array(words)}
        if enable:
            members = {"en": Out(1), **members}
        super().__init__(members, addr_width=addr_width, data_width=data_width, words=words,
                         enable=bool(enable))


class WriteRequest(_Params):
    """A write of up to ``words`` consecutive words, seen from the writer; always accepted.

    Members
    -------
    addr : ``Out(addr_width)``
        Address of the first word.
    n : ``Out(range(words + 1))``
        Words written this cycle (0: none): ``data[0 .. n)`` go to ``addr .. addr + n - 1``.
    data : ``Out(word_bits).array(words)``
        The words.
    """

    def __init__(self, *, addr_width: int, word_bits: int, words: int):
        _need("addr_width", addr_width)
        _need("word_bits", word_bits)
        _need("words", words)
        super().__init__({"addr": Out(addr_width), "n": Out(range(words + 1)),
                          "data": Out(word_bits).array(words)},
                         addr_width=addr_width, word_bits=word_bits, words=words)


class Result(_Params):
    """What a compute unit writes to the unified buffer, with its intermediate codes.

    Members
    -------
    valid : ``Out(1)``
        The unit writes this cycle.
    addr : ``Out(addr_width)``
        UB word address of the first word.
    n : ``Out(range(words + 1))``
        Words written (1 .. ``words`` when ``valid``).
    r : ``Out(word_bits).array(words)``
        The final codes (what the UB stores).
    q, a : ``Out(word_bits).array(words)``
        The codes before the activation table and after it (the trace port shows them; equal
        to ``r`` where a stage does not apply).
    """

    def __init__(self, *, addr_width: int, word_bits: int, words: int):
        _need("addr_width", addr_width)
        _need("word_bits", word_bits)
        _need("words", words)
        super().__init__({"valid": Out(1), "addr": Out(addr_width), "n": Out(range(words + 1)),
                          "r": Out(word_bits).array(words), "q": Out(word_bits).array(words),
                          "a": Out(word_bits).array(words)},
                         addr_width=addr_width, word_bits=word_bits, words=words)


class BusRequest(_Params):
    """A master of the external memory port (fetch, DMA), seen from the master.

    Members
    -------
    valid : ``Out(1)``
        A request; it stays until ``grant``.
    addr : ``Out(addr_width)``
        Address in bus beats.
    we, wdata : ``Out(1)``, ``Out(data_width)``
        A write of ``wdata`` (else a read).
    grant : ``In(1)``
        The request is taken this cycle.
    rsp_valid, rsp_data : ``In(1)``, ``In(data_width)``
        A read response for this master: in request order, one beat a cycle, no back-pressure.
    """

    def __init__(self, *, addr_width: int, data_width: int):
        _need("addr_width", addr_width)
        _need("data_width", data_width)
        super().__init__({"valid": Out(1), "addr": Out(addr_width), "we": Out(1),
                          "wdata": Out(data_width), "grant": In(1), "rsp_valid": In(1),
                          "rsp_data": In(data_width)},
                         addr_width=addr_width, data_width=data_width)
