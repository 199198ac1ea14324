/* Bare-metal driver of hfaccel_axi_top (see hfaccel_driver.h). */
#include "hfaccel_driver.h"

#ifndef HFACCEL_EXTERNAL_REG_IO
uint32_t hfaccel_reg_read(const hfaccel_t *dev, uint32_t offset)
{
    return dev->regs[offset / 4u];
}

void hfaccel_reg_write(hfaccel_t *dev, uint32_t offset, uint32_t value)
{
    dev->regs[offset / 4u] = value;
}
#endif

static uint32_t rd(const hfaccel_t *dev, uint32_t off) { return hfaccel_reg_read(dev, off); }

static void wr(hfaccel_t *dev, uint32_t off, uint32_t v) { hfaccel_reg_write(dev, off, v); }

int hfaccel_open(hfaccel_t *dev, volatile uint32_t *regs, uint32_t program_cfg_hash)
{
    dev->regs = regs;
    if (rd(dev, HFACCEL_REG_ID) != HFACCEL_MAGIC)
        return HFACCEL_E_NOT_FOUND;
    if (rd(dev, HFACCEL_REG_CFG_HASH) != program_cfg_hash)
        return HFACCEL_E_CONFIG;
    return HFACCEL_OK;
}

int hfaccel_start(hfaccel_t *dev, uint64_t base, int irq_enable)
{
#ifdef HFACCEL_BUS_BYTES
    if (base % HFACCEL_BUS_BYTES)
        return HFACCEL_E_ALIGN;
#endif
    wr(dev, HFACCEL_REG_BASE_LO, (uint32_t)base);
    wr(dev, HFACCEL_REG_BASE_HI, (uint32_t)(base >> 32));
    wr(dev, HFACCEL_REG_PROG, 0u);
    wr(dev, HFACCEL_REG_IRQ_STATUS, HFACCEL_REG_IRQ_STATUS_DONE_MASK);
    wr(dev, HFACCEL_REG_CONTROL, HFACCEL_REG_CONTROL_START_MASK
                                     | (irq_enable ? HFACCEL_REG_CONTROL_IRQ_ENABLE_MASK : 0u));
    if (rd(dev, HFACCEL_REG_STATUS) & HFACCEL_REG_STATUS_REJECTED_MASK)
        return HFACCEL_E_BUSY;
    return HFACCEL_OK;
}

void hfaccel_irq_ack(hfaccel_t *dev)
{
    wr(dev, HFACCEL_REG_IRQ_STATUS, HFACCEL_REG_IRQ_STATUS_DONE_MASK);
}

int hfaccel_wait(hfaccel_t *dev, uint32_t max_polls)
{
    uint32_t i, st;
    for (i = 0; i < max_polls; i++) {
        st = rd(dev, HFACCEL_REG_STATUS);
        if (st & HFACCEL_REG_STATUS_DONE_MASK) {
            hfaccel_irq_ack(dev);
            return (int)((st & HFACCEL_REG_STATUS_ERROR_MASK) >> HFACCEL_REG_STATUS_ERROR_SHIFT);
        }
    }
    return HFACCEL_E_TIMEOUT;
}

uint32_t hfaccel_counter(const hfaccel_t *dev, uint32_t reg) { return rd(dev, reg); }

void hfaccel_set_perf(hfaccel_t *dev, uint32_t addr_beats, uint32_t cap)
{
    wr(dev, HFACCEL_REG_PERF_ADDR, addr_beats);
    wr(dev, HFACCEL_REG_PERF_CAP, cap);
}
