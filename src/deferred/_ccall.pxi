# Calling a callback from C, catching what it raises: included by
# _cdeferred.pyx (where _pycore and _pyloop use try/except).

cdef extern from *:
    """
    /* Call fn(arg, *args, **kwargs); args and kwargs may be None.  On an
       exception, return it (normalised, with its traceback) and set *failed:
       the callers catch everything, and catching in C adds no traceback
       entry of ours (Cython's own except clause would make one per catch,
       which _failureFromCaught would then drop again). */
    static PyObject *deferred_call(PyObject *fn, PyObject *arg, PyObject *args,
                                   PyObject *kwargs, int *failed) {
        PyObject *result = NULL;
        if ((args == Py_None || PyTuple_GET_SIZE(args) == 0) &&
                (kwargs == Py_None || !PyObject_IsTrue(kwargs))) {
            if (PyErr_Occurred()) goto caught;
            result = PyObject_CallOneArg(fn, arg);
        } else {
            Py_ssize_t n = args == Py_None ? 0 : PyTuple_GET_SIZE(args), i;
            PyObject *all = PyTuple_New(n + 1), *keywords = NULL;
            if (all == NULL) goto caught;
            Py_INCREF(arg);
            PyTuple_SET_ITEM(all, 0, arg);
            for (i = 0; i < n; i++) {
                PyObject *item = PyTuple_GET_ITEM(args, i);
                Py_INCREF(item);
                PyTuple_SET_ITEM(all, i + 1, item);
            }
            if (kwargs != Py_None) {
                if (PyDict_CheckExact(kwargs)) {
                    keywords = kwargs;
                    Py_INCREF(keywords);
                } else {
                    keywords = PyDict_New();
                    if (keywords == NULL || PyDict_Merge(keywords, kwargs, 1) < 0) {
                        Py_XDECREF(keywords);
                        Py_DECREF(all);
                        goto caught;
                    }
                }
            }
            result = PyObject_Call(fn, all, keywords);
            Py_DECREF(all);
            Py_XDECREF(keywords);
        }
        if (result != NULL) {
            *failed = 0;
            return result;
        }
      caught:
        *failed = 1;
    #if PY_VERSION_HEX >= 0x030C0000
        return PyErr_GetRaisedException();
    #else
        {
            PyObject *type, *value, *traceback;
            PyErr_Fetch(&type, &value, &traceback);
            PyErr_NormalizeException(&type, &value, &traceback);
            if (traceback != NULL) {
                PyException_SetTraceback(value, traceback);
                Py_DECREF(traceback);
            }
            Py_XDECREF(type);
            return value;
        }
    #endif
    }

    /* ``bool(obj.debug)`` for a Deferred (or ``bool(cls.debug)`` for a
       class): while the Deferred has no instance dict, and the attribute
       found on its class is a bool (no descriptor), the class's lookup
       cache answers without the generic attribute machinery. */
    static int deferred_debug(PyObject *obj, PyObject *name) {
        PyObject *value;
        int on;
    #if PY_VERSION_HEX < 0x030E0000
        PyTypeObject *type = PyType_Check(obj) ? (PyTypeObject *)obj : Py_TYPE(obj);
        Py_ssize_t offset = type->tp_dictoffset;
        if ((PyObject *)type == obj ||
                (offset > 0 && *(PyObject **)((char *)obj + offset) == NULL)) {
            value = _PyType_Lookup(type, name);
            if (value == Py_False) return 0;
            if (value == Py_True) return 1;
        }
    #endif
        value = PyObject_GetAttr(obj, name);
        if (value == NULL) return -1;
        on = PyObject_IsTrue(value);
        Py_DECREF(value);
        return on;
    }
    """
    object deferred_call(object fn, object arg, object args, object kwargs, int *failed)
    int deferred_debug(object obj, object name) except -1
