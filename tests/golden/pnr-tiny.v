module hfaccel_post(clk, a, b, c, y);
  input clk;
  input [7:0] a;
  input [7:0] b;
  input [15:0] c;
  output reg [15:0] y;
  always @(posedge clk) y <= a * b + c;
endmodule

module hfaccel_gemm(clk, rst, x, acc);
  input clk;
  input rst;
  input [15:0] x;
  output reg [15:0] acc;
  always @(posedge clk) if (rst) acc <= 0; else acc <= acc + x;
endmodule

module hfaccel_top(clk, rst, a, b, y);
  input clk;
  input rst;
  input [7:0] a;
  input [7:0] b;
  output [15:0] y;
  wire [15:0] p;
  wire [15:0] s;
  hfaccel_post post0 (
    .clk(clk), .a(a), .b(b), .c(s), .y(p)
  );
  hfaccel_gemm gemm (
    .clk(clk), .rst(rst), .x(p), .acc(s)
  );
  assign y = s;
endmodule
