"""A stand-in for Hugging Face's ``spaces`` package on a ZeroGPU Space, for the tests.

ZeroGPU runs a function decorated with ``spaces.GPU`` in another process: it asks for
``duration`` seconds of GPU (a number, or a function of the call's arguments), pickles the
arguments into that process and the return value back. This stand-in does exactly that to the
values, in this process: every call's arguments and result go through ``pickle`` (a model, a
closure or anything else that cannot travel fails here as it would there), and each call is
recorded in ``CALLS`` with its duration and its pickled sizes. A model (a torch Module) in the
arguments or the result is refused: it would be copied into the worker, not shared.
"""

import functools
import io
import pickle

import torch

CALLS: list[dict] = []


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, torch.nn.Module):
            raise pickle.PicklingError(f"a model ({type(obj).__name__}) would be pickled into the GPU worker")
        return NotImplemented


def _through_pickle(value) -> tuple:
    buffer = io.BytesIO()
    _Pickler(buffer).dump(value)
    data = buffer.getvalue()
    # Our own bytes, just pickled above: the round trip ZeroGPU makes, never a file from outside.
    return pickle.loads(data), len(data)


def GPU(fn=None, *, duration=60):  # noqa: N802 - the real package's name
    def decorate(function):
        @functools.wraps(function)
        def call(*args, **kwargs):
            seconds = duration(*args, **kwargs) if callable(duration) else duration
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
                raise ValueError(f"duration must be a positive number of seconds; got {seconds!r}")
            (args, kwargs), sent = _through_pickle((args, kwargs))
            result, received = _through_pickle(function(*args, **kwargs))
            CALLS.append({"function": function.__name__, "duration": seconds, "sent": sent, "received": received})
            return result

        return call

    return decorate(fn) if fn is not None else decorate
