"""interrupts.deferred: a Ctrl-C during the block is raised once the block is done, never in the middle of it."""

import io
import os
import signal
import threading

import pytest

from kubectl_rollback import interrupts
from tests.unit.entry_points import until_the_main_thread_was_told


def test_a_ctrl_c_during_the_block_is_raised_after_it():
    handler = signal.getsignal(signal.SIGINT)
    done = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("the rest of the block")
    assert done == ["the rest of the block"]
    assert signal.getsignal(signal.SIGINT) is handler


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


class _Response(io.RawIOBase):
    """An unclosed response, as urllib3 leaves them to the garbage collector: Ctrl-C comes while it closes."""

    def close(self):
        os.kill(os.getpid(), signal.SIGINT)  # the handler runs at the next bytecode, inside this close()
        super().close()


@pytest.fixture
def command_handlers():
    """The handlers the command line installs, and Python's back after the test."""
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    interrupts.install()
    yield
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def test_a_ctrl_c_that_cpython_drops_in_a_finalizer_still_stops_the_next_poll_and_write(command_handlers):
    response = _Response()
    del response  # IOBase's finalizer calls close() and silences what it raises: the KeyboardInterrupt is lost
    with pytest.raises(KeyboardInterrupt):
        interrupts.sleep(0)  # the wait loop's poll
    started = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():  # a write does not start
            started.append("write")
    assert started == []
    assert not interrupts.terminated()


def test_sigterm_is_told_apart_and_a_new_command_starts_told_nothing(command_handlers):
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)
        interrupts.sleep(1)
    assert interrupts.terminated()
    interrupts.install()
    assert not interrupts.terminated()
    interrupts.sleep(0)


def test_a_signal_ignored_at_start_stays_ignored(command_handlers):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    interrupts.install()
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGTERM) is interrupts.on_signal


def test_other_threads_stop_at_their_next_poll_and_write_too(command_handlers):
    """A fleet's contexts run in threads, which Ctrl-C does not reach: each stops at its next safe point, as the
    main thread would. A write under way there finishes, then the stop is raised."""
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        interrupts.sleep(1)
    seen = []

    def context():
        for step in (lambda: interrupts.sleep(0), interrupts.deferred().__enter__):
            try:
                step()
                seen.append("went on")
            except KeyboardInterrupt:
                seen.append("stopped")

    worker = threading.Thread(target=context)
    worker.start()
    worker.join()
    assert seen == ["stopped", "stopped"]


def as_a_fleet_context(context) -> None:
    """`context` in a thread of its own, as a fleet runs one; the Ctrl-C it sends is raised in the main thread here."""
    worker = threading.Thread(target=context)
    with pytest.raises(KeyboardInterrupt):
        worker.start()
        worker.join()
    worker.join()


def test_in_another_thread_a_write_told_to_stop_meanwhile_finishes_then_stops(command_handlers):
    written, raised = [], []

    def context():
        try:
            with interrupts.deferred():
                os.kill(os.getpid(), signal.SIGINT)  # reaches the main thread, which remembers it
                until_the_main_thread_was_told()
                written.append("write")
        except KeyboardInterrupt:
            raised.append("stopped")

    as_a_fleet_context(context)
    assert written == ["write"] and raised == ["stopped"]


def test_a_ctrl_c_before_the_first_write_stops_the_block_there_and_one_after_it_is_held(command_handlers):
    sent = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            interrupts.before_write(changes=False)
            sent.append("dry run")
            os.kill(os.getpid(), signal.SIGINT)  # during the pre-flight's dry runs
            interrupts.before_write(changes=True)
            sent.append("write")
    assert sent == ["dry run"] and not interrupts.terminated()
    interrupts.install()  # the next command
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            interrupts.before_write(changes=True)
            sent.append("template")
            os.kill(os.getpid(), signal.SIGTERM)
            interrupts.before_write(changes=True)
            sent.append("book-keeping")
    assert sent == ["dry run", "template", "book-keeping"] and interrupts.terminated()


def test_in_another_thread_a_stop_after_the_first_write_finishes_the_block_and_before_it_writes_nothing(
        command_handlers):
    sent = []

    def context():
        try:
            with interrupts.deferred():
                interrupts.before_write(changes=False)  # a dry run: not a write that changes anything
                interrupts.before_write(changes=True)
                sent.append("template")
                os.kill(os.getpid(), signal.SIGINT)
                until_the_main_thread_was_told()
                interrupts.before_write(changes=True)
                sent.append("book-keeping")
        except KeyboardInterrupt:
            sent.append("stopped")
        try:
            with interrupts.deferred():
                sent.append("next block")
        except KeyboardInterrupt:
            sent.append("not started")
        try:
            interrupts.before_write(changes=True)  # a write outside a block (a mark, a record)
            sent.append("unheld write")
        except KeyboardInterrupt:
            sent.append("no write")

    as_a_fleet_context(context)
    assert sent == ["template", "book-keeping", "stopped", "not started", "no write"]


def test_a_signal_during_a_step_of_its_own_stops_right_after_it_within_a_block_or_not(command_handlers):
    sent = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():  # a rollback's writes
            with interrupts.own_step():  # its GitOps pause
                interrupts.before_write(changes=True)
                os.kill(os.getpid(), signal.SIGINT)
                sent.append("pause")
            sent.append("template")
    assert sent == ["pause"]
    interrupts.install()  # the next command: a step outside any block (a Blue/Green switch's pause)
    with pytest.raises(KeyboardInterrupt):
        with interrupts.own_step():
            interrupts.before_write(changes=True)
            os.kill(os.getpid(), signal.SIGTERM)
            sent.append("pause")
        sent.append("selectors")
    assert sent == ["pause", "pause"] and interrupts.terminated()
    interrupts.install()
    with interrupts.deferred():  # no signal: the block goes on after the step, and its next write is held again
        with interrupts.own_step():
            interrupts.before_write(changes=True)
        interrupts.before_write(changes=True)
        sent.append("template")
    assert sent[-1] == "template"
