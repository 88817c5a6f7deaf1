"""Dramatiq workers: one module per queue of domain/jobs.py (otp, confirmations, holds, vapi_sync), the broker, and
the SMS adapters. They import domain/ and frontdesk.bootstrap, never webhook/.
"""
