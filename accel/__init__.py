"""The accelerator's software view: config, ISA, compiler, tiling, cycle model, reports."""
