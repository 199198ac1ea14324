// A simulation model of the DSP48E2's data path, only as far as rtl/mac.py uses it, written from
// its user guide (UltraScale Architecture DSP Slice, UG579): no input register, the pre-adder in
// front of the multiplier's A side, the M register or not, the P register and its cascade
// output, ALUMODE 0000 (add).
// Any other parameter value or control code stops the simulation ($fatal), so that a wrapper
// cannot pass by using a mode the model does not implement. Xilinx's own model (unisims) is not
// free to ship with the project; Vivado's simulation with it is not run here.
//
//   I  = INMODE ^ IS_INMODE_INVERTED
//   AD = (I[2] ? D : 0) +/- (I[1] ? 0 : A[26:0])                 (I[3]: subtract)
//   M  = AD * B (27 x 18 bits, signed); with MREG = 1 the product through a register (CEM)
//   X, Y: OPMODE[1:0] = OPMODE[3:2] = 01 -> X + Y = M; 00 -> 0
//   Z:    OPMODE[6:4]: 000 -> 0, 001 -> PCIN, 010 -> P
//   W:    OPMODE[8:7]: 00 -> 0
//   P  <= RSTP ? 0 : CEP ? W + X + Y + Z + CARRYIN : P;  PCOUT = P
module DSP48E2 #(
  parameter integer AREG = 1, ACASCREG = 1, BREG = 1, BCASCREG = 1, CREG = 1, DREG = 1,
  parameter integer ADREG = 1, MREG = 1, PREG = 1, INMODEREG = 1, OPMODEREG = 1,
  parameter integer ALUMODEREG = 1, CARRYINREG = 1, CARRYINSELREG = 1,
  parameter A_INPUT = "DIRECT", B_INPUT = "DIRECT", PREADDINSEL = "A", AMULTSEL = "A",
  parameter BMULTSEL = "B", USE_MULT = "MULTIPLY", USE_SIMD = "ONE48",
  parameter USE_PATTERN_DETECT = "NO_PATDET",
  parameter [4:0] IS_INMODE_INVERTED = 5'b00000
) (
  input CLK,
  input [29:0] A, ACIN, input [17:0] B, BCIN, input [47:0] C, PCIN, input [26:0] D,
  input [4:0] INMODE, input [8:0] OPMODE, input [3:0] ALUMODE, input [2:0] CARRYINSEL,
  input CARRYIN, CARRYCASCIN, MULTSIGNIN,
  input CEA1, CEA2, CEB1, CEB2, CEC, CED, CEAD, CEM, CEP, CEINMODE, CECTRL, CEALUMODE,
  input CECARRYIN,
  input RSTA, RSTB, RSTC, RSTD, RSTM, RSTP, RSTINMODE, RSTCTRL, RSTALUMODE, RSTALLCARRYIN,
  output [47:0] P, PCOUT
);
  initial begin
    if (AREG != 0 || ACASCREG != 0 || BREG != 0 || BCASCREG != 0 || DREG != 0 || ADREG != 0
        || MREG > 1 || PREG != 1 || INMODEREG != 0 || OPMODEREG != 0 || ALUMODEREG != 0
        || CARRYINREG != 0 || CARRYINSELREG != 0)
      $fatal(1, "DSP48E2 model: only PREG=1 and MREG with every other register off");
    if (A_INPUT != "DIRECT" || B_INPUT != "DIRECT" || PREADDINSEL != "A" || AMULTSEL != "AD"
        || BMULTSEL != "B" || USE_MULT != "MULTIPLY" || USE_SIMD != "ONE48")
      $fatal(1, "DSP48E2 model: only the pre-adder on A (AMULTSEL=AD), B direct, ONE48");
  end
  reg [47:0] p = 48'd0;
  wire signed [26:0] a27 = A[26:0];
  wire signed [26:0] d27 = D;
  wire [4:0] inmode = INMODE ^ IS_INMODE_INVERTED;
  wire signed [26:0] amux = inmode[1] ? 27'sd0 : a27;
  wire signed [26:0] dmux = inmode[2] ? d27 : 27'sd0;
  wire signed [26:0] ad = inmode[3] ? dmux - amux : dmux + amux;
  wire signed [17:0] b18 = B;
  wire signed [47:0] mul = ad * b18;
  reg [47:0] mreg = 48'd0;
  always @(posedge CLK)
    if (RSTM) mreg <= 48'd0;
    else if (CEM) mreg <= mul;
  wire [47:0] m = MREG ? mreg : mul;
  reg [47:0] xy, z;
  always @* begin
    xy = 48'd0;
    z = 48'd0;
    if (OPMODE[3:0] == 4'b0101) xy = m;
    else if (OPMODE[3:0] != 4'b0000) $fatal(1, "DSP48E2 model: X/Y code %b", OPMODE[3:0]);
    if (OPMODE[6:4] == 3'b010) z = p;
    else if (OPMODE[6:4] == 3'b001) z = PCIN;
    else if (OPMODE[6:4] != 3'b000) $fatal(1, "DSP48E2 model: Z code %b", OPMODE[6:4]);
    if (OPMODE[8:7] != 2'b00) $fatal(1, "DSP48E2 model: W code %b", OPMODE[8:7]);
    if (ALUMODE != 4'b0000 || CARRYINSEL != 3'b000)
      $fatal(1, "DSP48E2 model: ALUMODE %b CARRYINSEL %b", ALUMODE, CARRYINSEL);
    if (inmode[0] || inmode[4]) $fatal(1, "DSP48E2 model: INMODE %b", inmode);
  end
  always @(posedge CLK)
    if (RSTP) p <= 48'd0;
    else if (CEP) p <= z + xy + {47'd0, CARRYIN};
  assign P = p;
  assign PCOUT = p;
endmodule
