"""The sampler registry and parameter descriptions that the app and the CLI are built from."""

import math

import pytest
import torch

import latent_bridge as lb
from latent_bridge.bridges import Param, check_sample_args


def test_every_registered_sampler_describes_its_parameters():
    methods = lb.bridges.available()
    assert {"linear", "slerp", "ou", "ou-sde", "gp", "langevin"} <= set(methods)
    for name, info in methods.items():
        assert info["description"], name
        for p in info["params"]:
            assert p.help and p.kind in {"float", "int", "bool", "choice"}, (name, p)
            # Every default is itself a valid value, so a UI built from defaults works.
            assert p.check(p.default) == p.default, (name, p.name)


def test_unknown_method_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown method 'nope'; choose one of .*linear"):
        lb.bridges.get("nope")


def test_unknown_parameter_names_the_known_ones():
    with pytest.raises(ValueError, match=r"has no parameter 'bogus'"):
        lb.bridges.get("ou", bogus=1.0)


@pytest.mark.parametrize(
    "param, value, message",
    [
        (Param("alpha", "float", 1.0, "h", low=0, high=2, low_inclusive=False), 2.5, r"alpha must be in \(0, 2\]; got 2.5"),
        (Param("alpha", "float", 1.0, "h", low=0, high=2, low_inclusive=False), 0, r"alpha must be in \(0, 2\]; got 0"),
        (Param("T", "float", 1.0, "h", low=0, low_inclusive=False), math.nan, "T must be a finite number"),
        (Param("T", "float", 1.0, "h", low=0, low_inclusive=False), math.inf, "T must be a finite number"),
        (Param("T", "float", 1.0, "h", low=0, low_inclusive=False), "abc", "T must be a number"),
        (Param("particles", "int", 8, "h", low=1), 2.5, "particles must be a whole number"),
        (Param("particles", "int", 8, "h", low=1), 0, r"particles must be in \[1, inf\); got 0"),
        (Param("kernel", "choice", "a", "h", choices=("a", "b")), "c", "kernel must be one of a, b; got 'c'"),
    ],
)
def test_parameter_checks_name_the_parameter_and_its_range(param, value, message):
    with pytest.raises(ValueError, match=message):
        param.check(value)


def test_integer_parameters_accept_whole_floats_from_sliders():
    assert Param("frames", "int", 8, "h", low=2).check(12.0) == 12


@pytest.mark.parametrize(
    "z0, z1, frames, n_paths, message",
    [
        (torch.zeros(3), torch.zeros(4), 5, 1, "same shape"),
        (torch.full((3,), math.nan), torch.zeros(3), 5, 1, "finite"),
        (torch.zeros(3), torch.zeros(3), 1, 1, "frames must be a whole number >= 2"),
        (torch.zeros(3), torch.zeros(3), 0, 1, "frames must be a whole number >= 2"),
        (torch.zeros(3), torch.zeros(3), 5, 0, "n_paths must be a whole number >= 1"),
        (torch.zeros(0), torch.zeros(0), 5, 1, "must not be empty"),
    ],
)
def test_sample_arguments_are_checked_up_front(z0, z1, frames, n_paths, message):
    with pytest.raises(ValueError, match=message):
        check_sample_args(z0, z1, frames, n_paths)
