// Testbench top for whole-network runs: the accelerator, a behavioural external memory and
// recorders of the observation ports. The HDL does the per-cycle work; cocotb only drives the
// clock, pulses start and waits for done (no Python in the per-cycle loop).
//
// Plusargs: those of the recorders (tb_log.vh): +MEM +TRACE +PERF +VCD [+VCD_FROM +VCD_TO]
//           +OUT +OUT_BEAT +OUT_BEATS
`timescale 1ns/1ps
module tb_top #(
    parameter integer BUS_BITS = 512,
    parameter integer WORD_BITS = 256,
    parameter integer WB = 8,
    parameter integer DEPTH_LOG2 = 17,
    parameter integer LAT = 8
) (
    input  wire        clk,
    input  wire        rst,
    input  wire        start,
    input  wire [31:0] prog,
    output wire        done,
    output wire        busy,
    output wire [7:0]  status,
    output wire [31:0] cycles,
    output wire [31:0] cmp_busy,
    output wire [31:0] cmp_wait,
    output wire [31:0] ld_busy,
    output wire [31:0] mac_cycles,
    output wire [31:0] instrs
);
    wire req_valid, req_we, req_tag;
    wire [31:0] req_addr;
    wire [BUS_BITS-1:0] req_wdata;
    reg  rsp_valid;
    reg  rsp_tag;
    reg  [BUS_BITS-1:0] rsp_data;
    wire [WB-1:0] trace_valid;
    wire [15:0] trace_layer;
    wire [31:0] trace_addr;
    wire [WB*WORD_BITS-1:0] trace_q, trace_a, trace_r;
    wire trace_g_valid;
    wire [31:0] trace_g_addr;
    wire [WORD_BITS-1:0] trace_g;
    wire perf_valid;
    wire [15:0] perf_layer;
    wire [31:0] perf_t, perf_wait, perf_busy, perf_mac;

    hfaccel_top dut (
        .clk(clk), .rst(rst), .start(start), .prog(prog), .ext_error(8'd0), .busy(busy), .done(done),
        .status(status), .cycles(cycles), .cmp_busy(cmp_busy), .cmp_wait(cmp_wait),
        .ld_busy(ld_busy), .mac_cycles(mac_cycles), .instrs(instrs),
        .req_valid(req_valid), .req_ready(1'b1), .req_we(req_we), .req_addr(req_addr),
        .req_wdata(req_wdata), .req_tag(req_tag),
        .rsp_valid(rsp_valid), .rsp_data(rsp_data), .rsp_tag(rsp_tag),
        .trace_valid(trace_valid), .trace_layer(trace_layer), .trace_addr(trace_addr),
        .trace_q(trace_q), .trace_a(trace_a), .trace_r(trace_r),
        .trace_g_valid(trace_g_valid), .trace_g_addr(trace_g_addr), .trace_g(trace_g),
        .perf_valid(perf_valid), .perf_layer(perf_layer), .perf_t(perf_t),
        .perf_wait(perf_wait), .perf_busy(perf_busy), .perf_mac(perf_mac)
    );

    // external memory: one request per cycle, reads answered in order after LAT cycles
    reg [BUS_BITS-1:0] mem [0:(1<<DEPTH_LOG2)-1];
    reg [LAT-1:0] pv;
    reg [LAT-1:0] pt;
    reg [BUS_BITS-1:0] pd [0:LAT-1];
    integer i;
    always @(posedge clk) begin
        if (req_valid && req_we)
            mem[req_addr[DEPTH_LOG2-1:0]] <= req_wdata;
        pv[0] <= req_valid && !req_we;
        pt[0] <= req_tag;
        pd[0] <= mem[req_addr[DEPTH_LOG2-1:0]];
        for (i = 1; i < LAT; i = i + 1) begin
            pv[i] <= pv[i-1];
            pt[i] <= pt[i-1];
            pd[i] <= pd[i-1];
        end
        rsp_valid <= pv[LAT-1];
        rsp_tag <= pt[LAT-1];
        rsp_data <= pd[LAT-1];
    end

    // recorders (tb_log.vh, shared with tb_axi_top.v)
    wire [31:0] log_cycle = cycles;
`include "tb_log.vh"
    initial begin
        pv = 0;
        rsp_valid = 0;
    end
endmodule
