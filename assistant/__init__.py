"""What a clinic's Vapi assistant is given: each tool's arguments (declared once, as pydantic models that
check what arrives and export the JSON Schema Vapi shows the model), the tool definitions and the system
prompts. The web process parses tool calls with it; the Vapi sync job and `frontdesk vapi show` render it.
It imports the domain only, never the web process or the workers."""
