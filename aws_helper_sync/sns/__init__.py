"""SNS publishing (SPEC §8).

    from aws_helper_sync.sns import SNSPublisher
"""

from .publisher import PublishBatchError, SNSPublisher

__all__ = ["PublishBatchError", "SNSPublisher"]
