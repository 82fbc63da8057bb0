"""Message delivery: SMS, voice calls and email, queued in the database and sent by Celery."""
