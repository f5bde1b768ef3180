# The callback loop of the compiled core: a mirror of _pyloop.py, included
# by _cdeferred.pyx.  (An index walks the list where _pyloop uses a list
# iterator: both see entries appended meanwhile, and both know how many
# entries are done.)


cdef int runCallbacks(DeferredCore self, bint _inPass) except -1:
    # The heart of the library.  It runs iteratively: when a callback
    # returns an unfired Deferred, this Deferred pauses and leaves a
    # _CONTINUE marker on that one; when the marker is reached, the result
    # is handed over and the loop carries on with the waiting Deferred,
    # remembering where it came from in ``chain``.  So chains of any
    # length use no stack.
    if self._runningCallbacks:
        # A callback added a callback to its own Deferred: the loop
        # already running below us will pick it up.
        return 0
    cdef list chain = None
    # ids of the Deferreds on ``chain`` that fired a chainDeferred target
    # and come back to finish their pass.
    cdef set midPass = None
    cdef DeferredCore current = self
    cdef DeferredCore waited
    cdef DeferredCore target
    cdef object cbs, result, entry, fn, eb, args, kwargs, inner, info
    cdef bint failing, finished
    cdef int failed
    cdef Py_ssize_t i
    while True:
        if midPass is not None and id(current) in midPass:
            # Back from a chainDeferred target: go on with None, what its
            # callback() returned, even if paused meanwhile (as in
            # Twisted, a pause waits for the end of the pass).
            midPass.discard(id(current))
            current.result = None
        elif current.paused and not _inPass:
            # It waits for unpause(); carry on with whoever handed it
            # its result (Twisted would leave that one stranded).
            if not chain:
                return 0
            current = <DeferredCore>chain.pop()
            continue
        _inPass = False
        cbs = current._callbacks
        result = current.result
        failing = isFailure(result)
        current._runningCallbacks = True
        finished = True
        i = 0
        while i < len(cbs):
            entry = cbs[i]
            i += 1
            if not PyTuple_CheckExact(entry):
                # A bare callback (no extra arguments, no errback).
                if failing:
                    continue
                # Visible to the callback, as in Twisted (d.result, str(d)).
                current.result = result
                result = deferred_call(entry, result, None, None, &failed)
                if failed:
                    # (Caught in C: no frame of ours in its traceback.)
                    result = failureFromException(result)
                    if deferred_debug(self, DEBUG):
                        result.captureVars = True
                    failing = True
                    continue
                if not isOutcome(result):
                    # (Still a success: ``failing`` stays False.)
                    continue
                fn = entry
            else:
                fn, eb, args, kwargs = entry
                if failing:
                    fn = eb
                if fn is None:
                    continue
                if fn is CONTINUE:
                    if kwargs is None:
                        # Hand our result to the Deferred waiting on us
                        # and carry on with it; come back for our
                        # remaining callbacks.
                        current._runningCallbacks = False
                        current.result = None
                        info = current._extra
                        if info is not None:
                            info.failResult = None
                        if cbs[len(cbs) - 1] is not entry:
                            # (A marker is made for one wait: it is in
                            # the list once.)
                            del cbs[:i]
                            if chain is None:
                                chain = [current]
                            else:
                                chain.append(current)
                        else:
                            # Nothing after the marker (the usual case):
                            # this one is done, with no need to come back
                            # to it.
                            current._callbacks = EMPTY
                        waited = <DeferredCore?>args
                        waited.result = result
                        waited.paused -= 1
                        current = waited
                        finished = False
                        break
                    # A chainDeferred target: fire it, and carry on with
                    # it before our remaining callbacks.
                    target = <DeferredCore?>args
                    if (
                        target.result is NO_RESULT
                        and type(target).callback is _coreCallback
                        and type(target).errback is _coreErrback
                    ):
                        chainTo(current, target, result, cbs, i)
                        if chain is None:
                            chain = [current]
                        else:
                            chain.append(current)
                        if midPass is None:
                            midPass = {id(current)}
                        else:
                            midPass.add(id(current))
                        current = target
                        finished = False
                        break
                    # Fired already, or firing its own way: call its
                    # callback() or errback() as Twisted does (which
                    # raises AlreadyCalledError, say).
                    fn = target.errback if failing else target.callback
                    args = kwargs = None
                current.result = result
                result = deferred_call(fn, result, args, kwargs, &failed)
                if failed:
                    result = failureFromException(result)
                    if deferred_debug(self, DEBUG):
                        result.captureVars = True
                    failing = True
                    continue
            if not isOutcome(result):
                failing = False
                continue
            if not isDeferred(result):
                failing = True  # a Failure returned: on to the errbacks
                continue
            if result is current and fn is not resume:
                try:
                    _warnReturnedSelf(fn)
                except BaseException as e:
                    # Warnings turned into errors: a failure, as if
                    # the callback had raised it (so does Twisted).
                    result = failureFromCaught(e)
                    failing = True
                    continue
            waited = <DeferredCore>result
            inner = waited.result
            if (
                inner is NO_RESULT
                or isDeferred(inner)
                or waited.paused
                or waited is current  # as Twisted: stuck for good
            ):
                # Wait for it: it resumes us when it reaches the marker
                # we leave on it.
                current.paused += 1
                appendContinuation(waited, current, None)
                current._runningCallbacks = False
                del cbs[:i]
                current.result = waited
                info = current._extra
                if info is not None:
                    info.failResult = None
                if not chain:
                    return 0
                current = <DeferredCore>chain.pop()
                finished = False
                break
            # Already fired: take its result and go on.
            waited.result = None
            info = waited._extra
            if info is not None:
                info.failResult = None
            result = inner
            failing = isFailure(result)
        if finished:
            # Every callback ran: this Deferred rests on ``result``.
            current._runningCallbacks = False
            current._callbacks = EMPTY
            current.result = result
            info = current._extra
            if failing:
                # Keep the traceback as text only: live frames would tie
                # this Deferred into a cycle (a frame that fired it
                # references it), so an unhandled error would wait for the
                # garbage collector to be reported.
                result.cleanFailure()
                current._info().failResult = result
                if _state._quietCancels is not None:
                    _restedInQuiet(current)
            elif info is not None:
                info.failResult = None
            if not chain:
                return 0
            current = <DeferredCore>chain.pop()


cdef int chainTo(
    DeferredCore self, DeferredCore target, object result, object cbs, Py_ssize_t done
) except -1:
    # The loop reached a chainDeferred entry for ``target`` (unfired, a
    # plain Deferred): fire it the way callback() would, except that its
    # callbacks are run by the loop next (so long chainDeferred pipelines
    # use no stack), and we come back after them with None, what
    # target.callback() returns.  Until then we stay "running", as in
    # Twisted, where target.callback() runs inside our callback.
    del cbs[:done]
    # Visible meanwhile, as in Twisted, where target.callback(result) is
    # running inside our callback.
    self.result = result
    info = self._extra
    if info is not None:
        info.failResult = None  # handed on: target tracks it now
    extra = target._extra
    if extra is not None:
        if type(extra) is DebugInfoType:
            extra._canceller = None
        else:
            target._extra = None
    if deferred_debug(self, DEBUG):
        target._info().invoker = formatStack(0)
    target.result = result
    return 0


# The core's own callback and errback: a chainDeferred target that has not
# replaced them is fired by the loop itself.
cdef object _coreCallback = DeferredCore.callback
cdef object _coreErrback = DeferredCore.errback
