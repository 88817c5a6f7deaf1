"""Dramatiq workers (OTP, confirmations, hold expiry, Vapi sync) arrive with the asynchronous pipeline.

They will import domain/ and frontdesk.bootstrap, never webhook/.
"""
