"""interrupts.deferred: a Ctrl-C during the block is raised once the block is done, never in the middle of it."""

import os
import signal

import pytest

from kubectl_rollback import interrupts


def test_a_ctrl_c_during_the_block_is_raised_after_it():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("the rest of the block")
    assert done == ["the rest of the block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_error_of_the_block_goes_first_and_no_ctrl_c_means_nothing_raised():
    with pytest.raises(ValueError):
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            raise ValueError("the write failed")
    with interrupts.deferred():
        pass


def test_a_handler_of_its_own_is_left_alone():
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert received == [signal.SIGINT]


def test_sigterm_handled_as_ctrl_c_is_held_too_and_handed_to_its_handler_after():
    received = []

    def as_ctrl_c(signum, frame):
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, as_ctrl_c)
    try:
        with pytest.raises(KeyboardInterrupt):
            with interrupts.deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                assert received == []
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert received == [signal.SIGTERM]
