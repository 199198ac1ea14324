/* Bare-metal driver of hfaccel_axi_top: a few functions over the generated register map
 * (hfaccel_regs.h, written next to the Verilog by `hfaccel rtl`). No OS, no allocation: the
 * caller maps the register window and gives the engine's bus address of the program image. */
#ifndef HFACCEL_DRIVER_H
#define HFACCEL_DRIVER_H

#include <stdint.h>

#include "hfaccel_regs.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    volatile uint32_t *regs; /* the s_axi register window */
} hfaccel_t;

enum {
    HFACCEL_OK = 0,
    HFACCEL_E_NOT_FOUND = -1, /* id register does not read HFACCEL_MAGIC */
    HFACCEL_E_CONFIG = -2,    /* cfg_hash differs: program built for another configuration */
    HFACCEL_E_BUSY = -3,      /* start ignored: the engine is busy */
    HFACCEL_E_ALIGN = -4,     /* base not aligned to the bus width */
    HFACCEL_E_TIMEOUT = -5    /* not done within the polling budget */
};

/* Check the engine and its configuration; 0 or a negative HFACCEL_E_* code. */
int hfaccel_open(hfaccel_t *dev, volatile uint32_t *regs, uint32_t program_cfg_hash);
/* Start the program whose image lies at bus address base (entry at beat 0). */
int hfaccel_start(hfaccel_t *dev, uint64_t base, int irq_enable);
/* Poll status.done up to max_polls times; returns the status error code (0: success) or a
 * negative HFACCEL_E_* code. Acknowledges the interrupt. */
int hfaccel_wait(hfaccel_t *dev, uint32_t max_polls);
/* Acknowledge the interrupt (call from the interrupt handler). */
void hfaccel_irq_ack(hfaccel_t *dev);
/* Counter at register offset reg (HFACCEL_REG_CYCLES ...). */
uint32_t hfaccel_counter(const hfaccel_t *dev, uint32_t reg);
/* Where the next runs write their perf records (one per compute instruction, HFACCEL_PERF_*
 * words, HFACCEL_PERF_STRIDE bytes apart): addr_beats beats from the base (0: none), at most
 * cap records. hfaccel_counter(dev, HFACCEL_REG_PERF_COUNT) says how many a run wrote. */
void hfaccel_set_perf(hfaccel_t *dev, uint32_t addr_beats, uint32_t cap);

/* Register access: memory-mapped through dev->regs by default. A platform that reaches the
 * registers another way (a simulator, a bridge) compiles the driver with
 * -DHFACCEL_EXTERNAL_REG_IO and defines these two. */
uint32_t hfaccel_reg_read(const hfaccel_t *dev, uint32_t offset);
void hfaccel_reg_write(hfaccel_t *dev, uint32_t offset, uint32_t value);

#ifdef __cplusplus
}
#endif

#endif /* HFACCEL_DRIVER_H */
