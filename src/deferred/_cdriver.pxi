# The step of the compiled coroutine driver: a mirror of _pydriver.py,
# included by _cdeferred.pyx.  (Each step enters the driver's context and
# sends or throws in C, where _pydriver goes through Context.run; an outcome
# that ends the generator comes back as a value, not as an exception caught
# by an except clause of ours.)

from contextvars import copy_context as _copy_context
from types import CoroutineType as _CoroutineType, GeneratorType as _GeneratorType

from deferred._state import _DefGen_Return, _stepping

cdef extern from *:
    """
    /* One step of generator ``gen`` inside context ``ctx``: send ``value``
       in, or throw ``thrown`` in when it is not None.  *status is 0 when it
       yielded (the yielded value is returned), 1 when it returned (its value
       is returned: StopIteration is taken apart here), 2 when it raised (the
       exception is returned, normalised, with its traceback). */
    static PyObject *deferred_step(PyObject *ctx, PyObject *gen, PyObject *send,
                                   PyObject *value, PyObject *thrown,
                                   int exact, int *status) {
        PyObject *result = NULL;
        if (PyContext_Enter(ctx) < 0) goto raised;
        if (thrown != Py_None) {
            result = PyObject_CallMethod(gen, "throw", "O", thrown);
        } else if (exact) {
            PySendResult sent = PyIter_Send(gen, value, &result);
            if (sent != PYGEN_ERROR) {
                if (PyContext_Exit(ctx) < 0) {
                    Py_DECREF(result);
                    goto raised;
                }
                *status = sent == PYGEN_RETURN ? 1 : 0;
                return result;
            }
            result = NULL;
        } else {
            result = PyObject_CallOneArg(send, value);
        }
        if (result != NULL) {
            if (PyContext_Exit(ctx) < 0) {
                Py_DECREF(result);
                goto raised;
            }
            *status = 0;
            return result;
        }
        {
            /* Leave the context with the exception put aside. */
            PyObject *type, *exc, *traceback;
            PyErr_Fetch(&type, &exc, &traceback);
            if (PyContext_Exit(ctx) < 0) {
                Py_XDECREF(type);
                Py_XDECREF(exc);
                Py_XDECREF(traceback);
            } else {
                PyErr_Restore(type, exc, traceback);
            }
        }
      raised:
        {
            PyObject *type, *exc, *traceback;
            PyErr_Fetch(&type, &exc, &traceback);
            PyErr_NormalizeException(&type, &exc, &traceback);
            if (traceback != NULL) {
                PyException_SetTraceback(exc, traceback);
                Py_DECREF(traceback);
            }
            Py_XDECREF(type);
            if (PyErr_GivenExceptionMatches(exc, PyExc_StopIteration)) {
                PyObject *returned = PyObject_GetAttrString(exc, "value");
                if (returned != NULL) {
                    Py_DECREF(exc);
                    *status = 1;
                    return returned;
                }
                PyErr_Clear();
            }
            *status = 2;
            return exc;
        }
    }
    """
    object deferred_step(
        object ctx, object gen, object send, object value, object thrown,
        int exact, int *status
    )

cdef object DefGenReturn = _DefGen_Return
cdef list stepping = _stepping
# DeferredFuture (the await of a pending Deferred): set by _coroutines, as
# the futures bridge is built on top of the core.
cdef object Waiter = None


def setDriverTypes(waiter):
    """Tell the driver the type of the await of a pending Deferred."""
    global Waiter
    Waiter = waiter


cdef class DriverCore:
    """The state of one running generator or coroutine, and its step.

    ``deferred._coroutines._Driver`` adds what the step calls off its hot
    path: ``_finish``, ``_other`` and ``_returned``.
    """

    cdef public object _deferred
    cdef public object _gen
    cdef public object _resume
    cdef public object _send
    cdef public object _waitingOn
    cdef object _context
    cdef bint _exact

    def __init__(self, gen):
        self._gen = gen
        # Looked up once, not at every step.
        self._send = gen.send
        self._context = _copy_context()
        self._exact = type(gen) is _GeneratorType or type(gen) is _CoroutineType
        self._waitingOn = None
        # The callback added to each awaited Deferred.  Made once; it refers
        # back to this driver, so _finish() drops it to leave no cycle.
        self._resume = self._step

    def _step(self, result):
        """Run the generator until it waits on an unfired Deferred or ends.

        Also the callback added to the Deferred being waited on: it returns
        None, so that Deferred's result is consumed (a failure counts as
        handled: the generator has received it).
        """
        cdef int status
        cdef DeferredCore d
        cdef object yielded, thrown, gen = self._gen
        self._waitingOn = None
        cdef bint failed = isFailure(result)
        while True:
            if failed:
                # The exception goes in with the traceback it was captured
                # with.  (Not kept here once thrown: see _pydriver.)
                thrown = result._reraisable()
                result = None
            else:
                thrown = None
            stepping.append(gen)
            yielded = deferred_step(
                self._context, gen, self._send, result, thrown, self._exact, &status
            )
            thrown = None
            if stepping[len(stepping) - 1] is gen:
                del stepping[len(stepping) - 1]
            else:
                stepping.remove(gen)  # (another thread's step ended first)
            if status == 1:
                result = yielded
                break
            if status == 2:
                if isinstance(yielded, DefGenReturn):
                    # (Its traceback from the generator's frame down.)
                    result = self._returned(yielded.value, yielded.__traceback__)
                else:
                    # (Caught in C: no frame of ours in its traceback.)
                    result = failureFromException(yielded)
                break

            if isDeferred(yielded):
                d = <DeferredCore>yielded
            elif type(yielded) is Waiter:
                d = <DeferredCore?>yielded._deferred
                result = d.result
                if result is not NO_RESULT and isFailure(result) and not d.paused:
                    # Cancelled before the await (see Deferred.__iter__): as
                    # for any fired Deferred (even one running its callbacks),
                    # the failure goes in and stays.
                    info = d._extra
                    if info is not None:
                        info.failResult = None
                    failed = True
                    continue
            else:
                other = self._other(yielded)
                if other is None:
                    # Not something to wait on: send it straight back -- but
                    # a Failure is thrown in, as Twisted does (and so is the
                    # None an inlineCallbacks generator yields).
                    result = yielded
                    failed = isFailure(yielded)
                    continue
                d = <DeferredCore?>other

            result = d.result
            if result is NO_RESULT or d.paused or d._runningCallbacks:
                # Not there yet: resume from its callback.  The callback list
                # is appended to directly (no callbacks can run now).
                self._waitingOn = d
                entry = (self._resume, self._resume, None, None)
                cbs = d._callbacks
                if cbs:
                    cbs.append(entry)
                else:
                    d._callbacks = [entry]
                return
            # Fired: take the result, as a callback returning None would.
            d.result = None
            failed = isFailure(result)
            if failed:
                info = d._extra
                if info is not None:
                    info.failResult = None
        self._finish(result)
        # Leave nothing here that leads to the failure (see _pydriver).
        result = None
