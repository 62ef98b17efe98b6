"""The consume-transform-produce loop, exactly once through Kafka transactions.

Each turn of the loop:

1. collects a batch from the requests topic (``consume`` until ``max_poll_records`` or
   ``linger_ms`` after the first record); no transaction is open yet, so a rebalance that
   happens here only drops the batch (the next owner reads it from the committed offsets);
2. answers it (:class:`~maas_dataplane.bridge.inference.Predictor`); while the model is
   unreachable the partitions are paused and the consumer keeps polling, so the group
   membership and rebalances go on; a rebalance drops the batch as above;
3. in one transaction produces every answer to the predictions topic and every request that
   can never succeed to the errors topic, then adds the batch's offsets with the consumer's
   group metadata (``send_offsets_to_transaction``) and commits.

A failed transaction is aborted and every assigned partition rewound to its committed offset,
so the batch is answered again. The producer's ``transactional.id`` is stable per instance
(``<group>-<ordinal>``), so a restarted instance fences its predecessor and aborts whatever
transaction that one left open at once, rather than after ``transaction.timeout.ms``; the
consumer's ``group.instance.id`` is the same value (static membership: a restart gets its
partitions back without a rebalance). An instance fenced by a newer one with its identity
(a replacement container) stops working and waits to be stopped.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Callable, Optional

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition

from . import messages as H
from .config import BridgeConfig
from .inference import Answer, Failure, Predictor, RawRequest

__all__ = ["Bridge", "Revoked"]

NO_KEY = "The request record has no key: the key is the request id, and the prediction is keyed by it"


class Revoked(Exception):
    """The partitions of the batch in hand were revoked: drop it."""


class Fenced(Exception):
    """A newer instance with this transactional.id (or group.instance.id) took over."""


class ConsumerFenced(Fenced):
    """The group coordinator fenced the consumer's static membership (``group.instance.id``).

    Not proof of a newer instance: after a broker restart the coordinator can fence the member
    that rejoins with its own instance id. The bridge re-joins; if a newer instance does hold
    this identity, its transactional producer fences this one at the next commit, which stops it.
    """


class KafkaFatal(Exception):
    """A fatal client error other than fencing (e.g. an authorization the broker refuses): the
    clients cannot go on, and a new process may succeed once the cause is fixed."""


_FENCING = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.FENCED_INSTANCE_ID,
            KafkaError.INVALID_PRODUCER_EPOCH}
FATAL_RESTART_DELAY_S = 5.0
"""How long a bridge with a fatal, non-fencing error waits before it exits (Docker restarts it)."""


def _fatal(err: KafkaError) -> Exception:
    return Fenced(err.str()) if err.code() in _FENCING else KafkaFatal(f"{err.name()}: {err.str()}")


class Bridge:
    def __init__(self, config: BridgeConfig, predictor: Predictor, log: Callable[[str], None]) -> None:
        self.config = config
        self.predictor = predictor
        self.log = log
        self.stopping = threading.Event()
        common = {"bootstrap.servers": config.bootstrap_servers, **config.kafka}
        self.consumer = self._new_consumer()
        self.producer = Producer({
            **common,
            "transactional.id": config.transactional_id,
            "transaction.timeout.ms": config.transaction_timeout_ms,
            "linger.ms": 0,
            # Right after a commit the coordinator answers the next transaction's first
            # AddPartitionsToTxn / AddOffsetsToTxn with CONCURRENT_TRANSACTIONS until the
            # previous markers are written (a few ms). librdkafka retries after retry.backoff.ms
            # (100 ms, doubling up to 1 s, by default), which added 100-450 ms to a request's
            # latency at 500 requests/s; short retries keep it to the markers' own time.
            "retry.backoff.ms": 5,
            "retry.backoff.max.ms": 50,
            "partitioner": "murmur2_random",
            "error_cb": self._client_error,
        })
        self._trace = bool(os.environ.get("MAAS_BRIDGE_TRACE"))
        self._epoch = 0
        """Counts revocations: a batch read before one is dropped."""
        self._assignment: list[TopicPartition] = []
        self.answered = 0
        self.failed = 0
        self.transactions = 0
        self.aborts = 0

    def _new_consumer(self) -> Consumer:
        config = self.config
        return Consumer({
            "bootstrap.servers": config.bootstrap_servers, **config.kafka,
            "group.id": config.group_id,
            "group.instance.id": config.transactional_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 1000,
            "fetch.wait.max.ms": 20,
            "error_cb": self._client_error,
        })

    # ------------------------------------------------------------------ callbacks

    def _client_error(self, err: KafkaError) -> None:
        if err.fatal():
            self.log(f"kafka: fatal: {err.str()}")
        elif err.code() not in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN):
            self.log(f"kafka: {err.str()}")

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Newly assigned partitions start from their committed offsets: nothing to drop.
        self._assignment = list(partitions)
        self.log(f"assigned {self._partitions(partitions)}")

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # No transaction is ever open while the consumer is polled: the batch in hand (if any)
        # is dropped, and its records are read again by whoever owns the partitions next.
        self._epoch += 1
        self._assignment = []
        self.log(f"revoked {self._partitions(partitions)}")

    @staticmethod
    def _partitions(partitions: list[TopicPartition]) -> str:
        return "[" + ",".join(str(tp.partition) for tp in partitions) + "]"

    # ------------------------------------------------------------------ main loop

    def run(self) -> int:
        self.log(f"starting: {self.config.describe()}")
        try:
            self._init_transactions()
            if self.stopping.is_set():
                return 0
            self.consumer.subscribe([self.config.requests_topic], on_assign=self._on_assign,
                                    on_revoke=self._on_revoke, on_lost=self._on_revoke)
            last_report = time.monotonic()
            rejoin_delay = 1.0
            while not self.stopping.is_set():
                try:
                    batch = self._collect()
                except ConsumerFenced as err:
                    self._rejoin(err, rejoin_delay)
                    rejoin_delay = min(rejoin_delay * 2, 30)
                    continue
                if batch:
                    self._handle(batch)
                    rejoin_delay = 1.0
                if time.monotonic() - last_report > 30:
                    last_report = time.monotonic()
                    self.log(f"answered={self.answered} errors={self.failed} transactions={self.transactions} "
                             f"aborted={self.aborts} predict_calls={self.predictor.calls} retries={self.predictor.retries}")
        except Fenced as err:
            self.log(f"fenced: {err}; this instance stops working and waits to be stopped")
            self.stopping.wait()
        except KafkaFatal as err:
            self.log(f"kafka: fatal: {err}; exiting in {FATAL_RESTART_DELAY_S:g}s for Docker to restart this bridge")
            self.stopping.wait(FATAL_RESTART_DELAY_S)
            return 1
        finally:
            self._close()
        return 0

    def _rejoin(self, err: ConsumerFenced, delay: float) -> None:
        """A new consumer with the same static identity, after ``delay`` s (see ConsumerFenced)."""
        self.log(f"consumer fenced ({err}); re-joining the group in {delay:g}s")
        self._epoch += 1
        self._assignment = []
        try:
            self.consumer.close()
        except (KafkaException, RuntimeError):
            pass
        if self.stopping.wait(delay):
            return
        self.consumer = self._new_consumer()
        self.consumer.subscribe([self.config.requests_topic], on_assign=self._on_assign,
                                on_revoke=self._on_revoke, on_lost=self._on_revoke)

    def _close(self) -> None:
        try:
            self.consumer.close()
        except (KafkaException, RuntimeError):
            pass
        self.predictor.close()
        self.log(f"stopped: answered={self.answered} errors={self.failed} transactions={self.transactions} aborted={self.aborts}")

    def _init_transactions(self) -> None:
        delay = 0.5
        while not self.stopping.is_set():
            try:
                self.producer.init_transactions(30)
                return
            except KafkaException as exc:
                err = exc.args[0]
                if err.fatal():
                    raise _fatal(err) from None
                self.log(f"init_transactions: {err.str()}; retrying in {delay:g}s")
                self.stopping.wait(delay)
                delay = min(delay * 2, 10)

    def _poll(self, count: int, timeout: float) -> list:
        out = []
        for msg in self.consumer.consume(num_messages=count, timeout=timeout):
            err = msg.error()
            if err is None:
                out.append(msg)
            elif err.code() in (KafkaError.FENCED_INSTANCE_ID, KafkaError._FATAL):
                # librdkafka's one fatal consumer error is the static member's fencing; it may
                # come as _FATAL ("Fatal error: …"), after which the consumer returns nothing
                raise ConsumerFenced(err.str())
            elif err.fatal():
                raise _fatal(err)
            elif err.code() != KafkaError._PARTITION_EOF:
                self.log(f"consume: {err.str()}")
        return out

    def _collect(self) -> list:
        epoch = self._epoch
        limit = self.config.max_poll_records
        # consume(n, timeout) waits for n records or the timeout: wait for the first one
        # only, take what is already fetched, then linger for more.
        batch = self._poll(1, 0.5)
        if batch:
            batch += self._poll(limit - 1, 0)
            deadline = time.monotonic() + self.config.linger_ms / 1000
            while len(batch) < limit:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                batch += self._poll(limit - len(batch), left)
        if self._epoch != epoch:
            # A rebalance during collection: the batch may straddle two assignments. Drop it
            # and read again from the committed offsets of what is assigned now.
            self._rewind()
            return []
        return batch

    # ------------------------------------------------------------------ one batch

    def _wait(self, seconds: float) -> None:
        """Backoff between retries that keeps the consumer in its group: partitions paused,
        the consumer polled; a rebalance meanwhile gives the batch up."""
        epoch = self._epoch
        paused = list(self._assignment)
        seen: dict[tuple[str, int], int] = {}
        try:
            self.consumer.pause(paused)
        except KafkaException:
            pass
        deadline = time.monotonic() + seconds
        try:
            while (left := deadline - time.monotonic()) > 0 and self._epoch == epoch and not self.stopping.is_set():
                for msg in self._poll(100, min(left, 0.2)):
                    key = (msg.topic(), msg.partition())
                    seen[key] = min(seen.get(key, msg.offset()), msg.offset())
        finally:
            if self._epoch == epoch:
                try:
                    self.consumer.resume(paused)
                    for (topic, partition), offset in seen.items():
                        self.consumer.seek(TopicPartition(topic, partition, offset))
                except KafkaException:
                    pass
        if self._epoch != epoch:
            raise Revoked()
        if self.stopping.is_set():
            raise Revoked()  # stop without answering: the next owner answers it

    def _handle(self, batch: list) -> None:
        epoch = self._epoch
        t_start = time.perf_counter()
        keyed = [m for m in batch if m.key() is not None]
        try:
            outcomes = self.predictor.run([RawRequest(m.value(), m.headers() or []) for m in keyed], self._wait)
        except Revoked:
            outcomes = None
        if outcomes is None or self._epoch != epoch:
            self._rewind()
            return
        by_msg = {id(m): o for m, o in zip(keyed, outcomes)}
        offsets: dict[tuple[str, int], int] = {}
        t_txn = time.perf_counter()
        try:
            self.producer.begin_transaction()
            now_ms = time.time() * 1000
            for m in batch:
                outcome = by_msg.get(id(m)) or Failure("INVALID_ARGUMENT", NO_KEY)
                self._produce(m, outcome, now_ms)
                key = (m.topic(), m.partition())
                offsets[key] = max(offsets.get(key, -1), m.offset() + 1)
            positions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
            t_offsets = time.perf_counter()
            self.producer.send_offsets_to_transaction(positions, self.consumer.consumer_group_metadata(), 30)
            t_commit = time.perf_counter()
            self._commit()
            if self._trace:
                self.log(f"trace: batch={len(batch)} predict={(t_txn - t_start) * 1000:.1f}ms "
                         f"produce={(t_offsets - t_txn) * 1000:.1f}ms offsets={(t_commit - t_offsets) * 1000:.1f}ms commit={(time.perf_counter() - t_commit) * 1000:.1f}ms")
        except KafkaException as exc:
            err = exc.args[0]
            if err.fatal():
                raise _fatal(err) from None
            self.log(f"transaction failed: {err.str()}; aborting and rewinding to the committed offsets")
            self._abort_and_rewind()
            return
        self.transactions += 1
        for outcome in by_msg.values():
            if isinstance(outcome, Answer):
                self.answered += 1
        self.failed += len(batch) - sum(1 for o in by_msg.values() if isinstance(o, Answer))

    def _commit(self) -> None:
        for attempt in range(10):
            try:
                self.producer.commit_transaction(30)
                return
            except KafkaException as exc:
                err = exc.args[0]
                if err.retriable() and not err.txn_requires_abort() and attempt < 9:
                    time.sleep(0.1 * (attempt + 1))
                    continue
                raise

    def _produce(self, msg, outcome: Answer | Failure, now_ms: float) -> None:
        where = H.request_offset(msg.partition(), msg.offset()).encode()
        model = self.config.model.encode()
        if isinstance(outcome, Answer):
            kind, ts = msg.timestamp()
            latency = max(0.0, now_ms - ts) if ts > 0 else 0.0
            headers = [
                (H.CONTENT_TYPE, outcome.content_type.encode()),
                (H.MODEL, model),
                (H.MODEL_VERSION, str(outcome.version).encode()),
                (H.GIT_SHA, self.config.git_sha.encode()),
                (H.DIGEST, self.config.digest.encode()),
                (H.REQUEST_OFFSET, where),
                (H.LATENCY_MS, f"{latency:.1f}".encode()),
            ]
            self._send(self.config.predictions_topic, msg.key(), outcome.value, headers)
        else:
            headers = list(msg.headers() or []) + [
                (H.MODEL, model),
                (H.REQUEST_OFFSET, where),
                (H.ERROR_CODE, outcome.code.encode()),
                (H.ERROR_MESSAGE, outcome.message.encode("utf-8", "replace")[:4096]),
            ]
            self._send(self.config.errors_topic, msg.key(), msg.value(), headers)

    def _send(self, topic: str, key, value, headers) -> None:
        while True:
            try:
                self.producer.produce(topic, value=value, key=key, headers=headers)
                return
            except BufferError:
                self.producer.poll(0.05)

    def _abort_and_rewind(self) -> None:
        self.aborts += 1
        try:
            self.producer.abort_transaction(30)
        except KafkaException as exc:
            err = exc.args[0]
            if err.fatal():
                raise _fatal(err) from None
            self.log(f"abort_transaction: {err.str()}")
        self._rewind()

    def _rewind(self) -> None:
        """Every assigned partition back to its committed offset."""
        assignment = self.consumer.assignment()
        if not assignment:
            return
        try:
            committed = self.consumer.committed(assignment, timeout=30)
        except KafkaException as exc:
            self.log(f"committed offsets unreadable ({exc.args[0].str()}); rejoining instead")
            self.consumer.unsubscribe()
            self.consumer.subscribe([self.config.requests_topic], on_assign=self._on_assign,
                                    on_revoke=self._on_revoke, on_lost=self._on_revoke)
            return
        for tp in committed:
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            try:
                self.consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
            except KafkaException as exc:
                self.log(f"seek {tp.partition}: {exc.args[0].str()}")


def install_signal_handlers(bridge: Bridge) -> None:
    def stop(signum, frame) -> None:  # noqa: ARG001
        bridge.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
