"""The search service's FIFO queues, each with an encrypted FIFO dead-letter queue.

The dead-letter queue keeps a poison message from blocking its group forever, and a visibility
timeout longer than a search keeps a long search from being redelivered (docs/original.md §5.6,
§8.5 #42).
Messages here are grouped per trainId by the sender (bioims.store.queues.SqsQueue).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.checkov_skips import skip_check

# A message is handled within this time or it becomes visible again (the consumer may extend it).
VISIBILITY_TIMEOUT = Duration.minutes(5)
# After this many failed receives a message moves to the dead-letter queue.
MAX_RECEIVE_COUNT = 3
RETENTION = Duration.days(4)
DEAD_LETTER_RETENTION = Duration.days(14)


class QueueWithDeadLetter(Construct):
    """A FIFO queue (SSE-SQS, TLS only) whose poison messages go to a FIFO dead-letter queue."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        common = {
            "fifo": True,
            "encryption": sqs.QueueEncryption.SQS_MANAGED,
            "enforce_ssl": True,
        }
        self.dead_letter = sqs.Queue(self, "DeadLetter", retention_period=DEAD_LETTER_RETENTION, **common)
        self.queue = sqs.Queue(
            self,
            "Queue",
            visibility_timeout=VISIBILITY_TIMEOUT,
            retention_period=RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter, max_receive_count=MAX_RECEIVE_COUNT),
            **common,
        )
        for queue in (self.queue, self.dead_letter):
            skip_check(
                queue,
                "CKV_AWS_27",
                "Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled: true); the check only recognises "
                "a KMS key id, which would make every sender and the consumer need kms:Decrypt/GenerateDataKey.",
            )
