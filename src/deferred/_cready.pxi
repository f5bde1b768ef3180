# The await of a fired Deferred without a generator: included by
# _cdeferred.pyx (where _pycore's __iter__ returns at once from a generator).

@cython.freelist(8)
@cython.final
cdef class _Ready:
    """The await of a Deferred that has its result: an iterator that is
    over at once, returning it (what a generator that returns at once is,
    without the generator).  ``await`` takes the result through the send
    slot installed below, with no StopIteration raised."""

    cdef object _result

    def __iter__(self):
        return self

    def __next__(self):
        result = self._result
        self._result = None
        raise StopIteration(result)

    def send(self, value):
        result = self._result
        self._result = None
        raise StopIteration(result)

    def throw(self, exc, *rest):
        if isinstance(exc, type):
            exc = exc(*rest[:1])
        raise exc

    def close(self):
        self._result = None


cdef extern from "Python.h":
    ctypedef enum PySendResult:
        PYGEN_RETURN
        PYGEN_ERROR
        PYGEN_NEXT
    ctypedef PySendResult (*sendfunc)(PyObject *, PyObject *, PyObject **) noexcept
    ctypedef struct PyAsyncMethods:
        void *am_await
        void *am_aiter
        void *am_anext
        sendfunc am_send
    ctypedef struct _TypeWithAsync "PyTypeObject":
        PyAsyncMethods *tp_as_async
    void PyType_Modified(PyTypeObject *)


cdef PySendResult _readySend(
    PyObject *iterator, PyObject *value, PyObject **result
) noexcept:
    # PyIter_Send(), as await and yield from call it (Python 3.10+): hand
    # the result back directly, as a finished generator's send would.
    cdef _Ready ready = <_Ready>iterator
    cdef object outcome = ready._result
    ready._result = None
    Py_INCREF(outcome)
    result[0] = <PyObject *>outcome
    return PYGEN_RETURN


cdef PyAsyncMethods _readyAsync
_readyAsync.am_send = _readySend
(<_TypeWithAsync *>_Ready).tp_as_async = &_readyAsync
PyType_Modified(<PyTypeObject *>_Ready)


cdef inline _Ready ready(object result):
    # _Ready(result), without a call through the type.
    cdef _Ready it = _Ready.__new__(_Ready)
    it._result = result
    return it
