"""Built-in architecture plugins (installed as cnnscope.architectures)."""
